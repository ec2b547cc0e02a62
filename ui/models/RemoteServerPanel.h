// Connecting the chat to an existing serving engine (llama-server, vLLM, SGLang, LM Studio) in the model manager:
// the API's address, an optional key, the models the server lists, Connect. The key is kept per address in the
// desktop's keyring or a file only the user may read (ApiKeyStore), never in conversations, settings or logs.
#pragma once

#include <QGroupBox>

class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;

namespace deepstack::ui {

class RemoteServerPanel : public QGroupBox {
    Q_OBJECT
public:
    explicit RemoteServerPanel(QWidget* parent = nullptr);

    // Asks the server for its models (off the GUI thread); the list fills, or the status says why not.
    void listModels();
    QString server() const;
    QString apiKey() const;
    QString model() const;

Q_SIGNALS:
    void connectRequested(const QString& server, const QString& model, const QString& apiKey);
    void modelsListed(const QStringList& models, const QString& problem);

protected:
    void showEvent(QShowEvent* event) override;

private:
    void rememberKey();
    bool keyLookedUp_ = false;

    QLineEdit* address_ = nullptr;
    QLineEdit* key_ = nullptr;
    QComboBox* models_ = nullptr;
    QPushButton* list_ = nullptr;
    QPushButton* connect_ = nullptr;
    QLabel* status_ = nullptr;
};

}  // namespace deepstack::ui

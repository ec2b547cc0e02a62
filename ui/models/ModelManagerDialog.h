// The models the user knows about: add a folder (checked by the core's inspect, refused with its reasons when
// unusable), see its report, choose device, precision and context, load with progress, cancel, unload.
#pragma once

#include <QDialog>
#include <QStringList>

class QComboBox;
class QLabel;
class QListWidget;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTabWidget;

namespace deepstack {
struct InspectReport;
}

namespace deepstack::ui {

class InferenceService;
class HubDownloadPanel;

class ModelManagerDialog : public QDialog {
    Q_OBJECT
public:
    ModelManagerDialog(InferenceService& service, QWidget* parent = nullptr);

    // The folders in the list (QSettings), bundled models first.
    static QStringList knownModelFolders();
    static void rememberModelFolder(const QString& folder);

protected:
    // The report is read again each time the dialog opens: speeds measured since (a model's first load) show.
    void showEvent(QShowEvent* event) override;

public:
    // Inspects `folder` off the GUI thread and adds it when usable; false through folderChecked otherwise.
    void addModelFolder(const QString& folder);
    void selectFolder(const QString& folder);
    void loadSelected();
    // Shows the Download tab with `repository` chosen; the user starts it.
    void offerDownload(const QString& repository);

Q_SIGNALS:
    void folderChecked(const QString& folder, bool added, const QString& reasons);

private:
    bool selectListed(const QString& folder);  // false when the list does not hold it
    void refreshList();
    void showReport(const QString& folder);
    // The weights' memory under each choice of the Weights box, for the folder just inspected.
    static QString speedText(const QString& folder);
    void showWeightsMemory(const InspectReport& report);
    void updateState();
    QString selectedFolder() const;

    InferenceService& service_;
    QTabWidget* sources_ = nullptr;
    HubDownloadPanel* hub_ = nullptr;
    QListWidget* list_ = nullptr;
    QPlainTextEdit* report_ = nullptr;
    QComboBox* device_ = nullptr;
    QComboBox* compute_ = nullptr;
    QComboBox* weights_ = nullptr;
    QComboBox* pictures_ = nullptr;
    QSpinBox* context_ = nullptr;
    QPushButton* load_ = nullptr;
    QPushButton* cancel_ = nullptr;
    QPushButton* unload_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QLabel* status_ = nullptr;
};

}  // namespace deepstack::ui

// Getting a model from the Hugging Face Hub inside the model manager: a short list of what runs on this kind of
// machine (with its download size, the memory a run needs and whether that fits here) or any repository id, an
// optional access token, and a download that shows its file, speed and time left, can be cancelled (what arrived
// is kept and resumed next time) and ends in the snapshot folder, which the model manager then adds. The work is
// the core's (deepstack/hub.h), on a worker thread.
#pragma once

#include <QGroupBox>

#include <atomic>
#include <memory>

class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;

namespace deepstack::ui {

class HubDownloadPanel : public QGroupBox {
    Q_OBJECT
public:
    explicit HubDownloadPanel(QWidget* parent = nullptr);
    ~HubDownloadPanel() override;

    // The download to suggest on this machine: the largest Qwen3-VL Instruct whose bf16 run fits its memory
    // comfortably (the 2B when none does), and its download size in GB.
    static QString recommendedRepository(double* downloadGb = nullptr);
    void choose(const QString& repository);  // a suggestion, or any repository id

    bool isDownloading() const { return downloading_; }
    void startDownload();
    void cancelDownload();

Q_SIGNALS:
    void downloaded(const QString& snapshotFolder);
    void downloadFailed(const QString& message, bool cancelled);

private:
    void showChoice();
    void updateState();

    QComboBox* choice_ = nullptr;
    QLineEdit* repo_ = nullptr;
    QLineEdit* token_ = nullptr;
    QLabel* fit_ = nullptr;
    QPushButton* download_ = nullptr;
    QPushButton* cancel_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QLabel* status_ = nullptr;
    bool downloading_ = false;
    std::shared_ptr<std::atomic<bool>> cancel_flag_;
};

}  // namespace deepstack::ui

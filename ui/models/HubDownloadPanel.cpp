#include "models/HubDownloadPanel.h"

#include <QComboBox>
#include <QCoreApplication>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPointer>
#include <QProgressBar>
#include <QPushButton>
#include <QThread>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <chrono>
#include <fstream>

#include "deepstack/error.h"
#include "deepstack/hub.h"

namespace deepstack::ui {

namespace {

// What runs here, with the sizes of their bf16 safetensors (the Hub's listings, rounded) and the memory a bf16 run
// on the CPU needs. Qwen3-VL: the weights plus an 8k-token context and the activations of a 1 M-pixel picture.
// DeepStack-L and -L-HD (the authors' checkpoints, their docs/MODEL_ZOO.md): three shards of 4.94 + 4.95 + 4.24 GB,
// which is exactly what `deepstack-cli inspect` counts for LLaMA-7B, the CLIP ViT-L/14-336 tower and the projector at
// bf16 (14.13 GB: the tower is in the shards, as the loader needs), and inspect's estimate of a run with their full
// 4096-token context (tests/data/configs/deepstack-l-*.config.json).
struct Suggestion {
    const char* repo;
    double download_gb;
    double run_gb;
};
constexpr Suggestion kSuggestions[] = {
    {"Qwen/Qwen3-VL-2B-Instruct", 4.3, 5.8},  {"Qwen/Qwen3-VL-4B-Instruct", 8.9, 10.8}, {"Qwen/Qwen3-VL-8B-Instruct", 17.5, 19.9},
    {"Qwen/Qwen3-VL-2B-Thinking", 4.3, 5.8},  {"Qwen/Qwen3-VL-4B-Thinking", 8.9, 10.8}, {"Qwen/Qwen3-VL-8B-Thinking", 17.5, 19.9},
    {"menglc/deepstack-l-vicuna-7b", 14.1, 16.6}, {"menglc/deepstack-l-hd-vicuna-7b", 14.1, 17.1},
};

double total_memory_gb() {
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    double kb = 0;
    while (meminfo >> key >> kb) {
        if (key == "MemTotal:") return kb / 1e6;
        meminfo.ignore(256, '\n');
    }
    return 0;
}

QString human(double bytes) {
    if (bytes >= 1e9) return QString::number(bytes / 1e9, 'f', 2) + " GB";
    if (bytes >= 1e6) return QString::number(bytes / 1e6, 'f', 1) + " MB";
    return QString::number(bytes / 1e3, 'f', 1) + " kB";
}

// "40 s", "12 min", "3 h", "more than a day": a time left as a user plans with it.
QString human_time(double seconds) {
    if (seconds <= 0) return QObject::tr("time left unknown");
    if (seconds < 90) return QObject::tr("about %1 s left").arg(seconds, 0, 'f', 0);
    if (seconds < 90 * 60) return QObject::tr("about %1 min left").arg(seconds / 60, 0, 'f', 0);
    if (seconds < 24 * 3600) return QObject::tr("about %1 h left").arg(seconds / 3600, 0, 'f', 0);
    return QObject::tr("more than a day left");
}

}  // namespace

QString HubDownloadPanel::recommendedRepository(double* downloadGb) {
    const double memory = total_memory_gb();
    const Suggestion* best = &kSuggestions[0];
    for (const auto& s : kSuggestions) {
        const QString repo = QString::fromLatin1(s.repo);
        if (repo.startsWith("Qwen/") && repo.endsWith("-Instruct") && s.run_gb < 0.7 * memory && s.run_gb > best->run_gb) best = &s;
    }
    if (downloadGb != nullptr) *downloadGb = best->download_gb;
    return QString::fromLatin1(best->repo);
}

void HubDownloadPanel::choose(const QString& repository) {
    const int index = choice_->findData(repository);
    if (index >= 0) {
        choice_->setCurrentIndex(index);
        return;
    }
    choice_->setCurrentIndex(choice_->count() - 1);  // another repository
    repo_->setText(repository);
    updateState();
}

HubDownloadPanel::HubDownloadPanel(QWidget* parent) : QGroupBox(tr("Download from the Hugging Face Hub"), parent) {
    setObjectName("hubDownload");
    auto* layout = new QVBoxLayout(this);
    auto* form = new QFormLayout;
    choice_ = new QComboBox(this);
    choice_->setObjectName("hubModel");
    for (const auto& s : kSuggestions) choice_->addItem(QString::fromLatin1(s.repo), QString::fromLatin1(s.repo));
    choice_->addItem(tr("Another repository…"), QString());
    repo_ = new QLineEdit(this);
    repo_->setObjectName("hubRepository");
    repo_->setPlaceholderText(tr("organisation/name, as on the Hub"));
    token_ = new QLineEdit(this);
    token_->setObjectName("hubToken");
    token_->setEchoMode(QLineEdit::Password);
    token_->setPlaceholderText(tr("only for gated or private repositories; HF_TOKEN is used when empty"));
    fit_ = new QLabel(this);
    fit_->setObjectName("hubFit");
    fit_->setWordWrap(true);
    form->addRow(tr("Model"), choice_);
    form->addRow(tr("Repository"), repo_);
    form->addRow(tr("Token"), token_);
    form->addRow(QString(), fit_);
    layout->addLayout(form);

    auto* row = new QHBoxLayout;
    progress_ = new QProgressBar(this);
    progress_->setObjectName("hubProgress");
    progress_->setRange(0, 1000);
    progress_->setTextVisible(false);
    status_ = new QLabel(this);
    status_->setObjectName("hubStatus");
    status_->setWordWrap(true);
    download_ = new QPushButton(tr("Download"), this);
    download_->setObjectName("hubStart");
    cancel_ = new QPushButton(tr("Cancel Download"), this);
    cancel_->setObjectName("hubCancel");
    row->addWidget(status_, 1);
    row->addWidget(progress_);
    row->addWidget(download_);
    row->addWidget(cancel_);
    layout->addLayout(row);

    connect(choice_, &QComboBox::currentIndexChanged, this, &HubDownloadPanel::showChoice);
    connect(repo_, &QLineEdit::textEdited, this, [this] {
        choice_->setCurrentIndex(choice_->count() - 1);  // typed: another repository
        updateState();
    });
    connect(download_, &QPushButton::clicked, this, &HubDownloadPanel::startDownload);
    connect(cancel_, &QPushButton::clicked, this, &HubDownloadPanel::cancelDownload);
    showChoice();
}

HubDownloadPanel::~HubDownloadPanel() {
    if (cancel_flag_) *cancel_flag_ = true;  // the worker ends at its next chunk and finds the panel gone
}

void HubDownloadPanel::showChoice() {
    const auto repo = choice_->currentData().toString();
    if (!repo.isEmpty()) repo_->setText(repo);
    const auto index = choice_->currentIndex();
    if (index >= 0 && index < static_cast<int>(std::size(kSuggestions))) {
        const auto& s = kSuggestions[index];
        const double memory = total_memory_gb();
        const QString verdict = memory <= 0             ? QString()
                                : s.run_gb < 0.7 * memory ? tr("fits this machine (%1 GB of memory)").arg(memory, 0, 'f', 0)
                                : s.run_gb < 0.95 * memory
                                    ? tr("tight on this machine (%1 GB of memory): close other programs, or load it with Q8_0 weights").arg(memory, 0, 'f', 0)
                                    : tr("too big for this machine's %1 GB in bf16; Q4_K weights need about a third").arg(memory, 0, 'f', 0);
        fit_->setText(tr("About %1 GB to download; a run needs about %2 GB: %3.").arg(s.download_gb).arg(s.run_gb).arg(verdict));
    } else {
        fit_->setText(tr("Any model repository of a family this version runs (Qwen3-VL, DeepStack-L/-V); the folder is "
                         "checked once it is here."));
    }
    updateState();
}

void HubDownloadPanel::updateState() {
    download_->setEnabled(!downloading_ && !repo_->text().trimmed().isEmpty());
    cancel_->setEnabled(downloading_);
    choice_->setEnabled(!downloading_);
    repo_->setEnabled(!downloading_);
    token_->setEnabled(!downloading_);
}

void HubDownloadPanel::startDownload() {
    if (downloading_) return;
    const auto repo = repo_->text().trimmed().toStdString();
    auto settings = hub_settings_from_environment();
    if (!token_->text().isEmpty()) settings.token = token_->text().toStdString();
    downloading_ = true;
    cancel_flag_ = std::make_shared<std::atomic<bool>>(false);
    progress_->setValue(0);
    status_->setText(tr("Asking the Hub for %1…").arg(QString::fromStdString(repo)));
    updateState();

    QPointer<HubDownloadPanel> self(this);
    auto cancel = cancel_flag_;
    // Progress reaches the panel a few times a second, queued onto the GUI thread.
    auto last = std::make_shared<std::chrono::steady_clock::time_point>();
    const auto on_progress = [self, last](const HubProgress& p) {
        const auto now = std::chrono::steady_clock::now();
        if (now - *last < std::chrono::milliseconds(250) && p.file_done != p.file_size) return;
        *last = now;
        QMetaObject::invokeMethod(
            qApp, [self, p] {
                if (!self) return;
                const double left = p.bytes_per_s > 0 ? static_cast<double>(p.total - p.done) / p.bytes_per_s : 0;
                self->progress_->setValue(p.total > 0 ? static_cast<int>(1000.0 * static_cast<double>(p.done) / static_cast<double>(p.total)) : 0);
                self->status_->setText(tr("%1 (file %2 of %3): %4 of %5, %6/s, %7")
                                           .arg(QString::fromStdString(p.file))
                                           .arg(std::min(p.files_done + 1, p.files))
                                           .arg(p.files)
                                           .arg(human(static_cast<double>(p.done)), human(static_cast<double>(p.total)), human(p.bytes_per_s),
                                                human_time(left)));
            },
            Qt::QueuedConnection);
    };
    (void)QtConcurrent::run([self, settings, repo, cancel, on_progress] {
        QString snapshot, failure;
        bool cancelled = false;
        try {
            snapshot = QString::fromStdString(hub_download(settings, repo, "main", {}, on_progress, cancel.get()).string());
        } catch (const Error& e) {
            failure = QString::fromStdString(e.what());
            cancelled = e.kind() == ErrorKind::cancelled;
        } catch (const std::exception& e) {
            failure = QString::fromStdString(e.what());
        }
        QMetaObject::invokeMethod(
            qApp, [self, snapshot, failure, cancelled] {
                if (!self) return;
                self->downloading_ = false;
                self->updateState();
                if (failure.isEmpty()) {
                    self->progress_->setValue(1000);
                    self->status_->setText(tr("Downloaded and verified: %1").arg(snapshot));
                    Q_EMIT self->downloaded(snapshot);
                } else {
                    self->progress_->setValue(0);
                    self->status_->setText(cancelled ? tr("Download cancelled; what arrived is kept and the next download resumes it.")
                                                     : QString("<span style='color:#b00020'>%1</span>").arg(failure.toHtmlEscaped()));
                    Q_EMIT self->downloadFailed(failure, cancelled);
                }
            },
            Qt::QueuedConnection);
    });
}

void HubDownloadPanel::cancelDownload() {
    if (cancel_flag_) *cancel_flag_ = true;
}

}  // namespace deepstack::ui

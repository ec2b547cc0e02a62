#include "models/ModelManagerDialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include "deepstack/engine.h"
#include "deepstack/hub.h"
#include "deepstack/inspect.h"
#include "inference/InferenceService.h"
#include "inference/SpeedRecords.h"
#include "deepstack/model_folder.h"
#include "models/HubDownloadPanel.h"
#include "models/RemoteServerPanel.h"

namespace deepstack::ui {

namespace {
const char* kKnownKey = "models/known";
const char* kDeviceKey = "models/device";
const char* kComputeKey = "models/compute";
const char* kWeightsKey = "models/weights";
constexpr int kPlainLabelRole = Qt::UserRole + 1;  // an item's text before the memory is added
const char* kContextKey = "models/contextTokens";
const char* kPictureKey = "models/maxImagePixels";

// "1 M pixels (1024 Qwen3-VL tokens)": a picture budget as a user weighs it.
QString describePixels(qint64 pixels) {
    const auto tokens = pixels / (32 * 32);
    const auto megapixels = static_cast<double>(pixels) / (1 << 20);
    return QObject::tr("%1 M pixels (up to %2 tokens a picture)").arg(megapixels, 0, 'g', 3).arg(tokens);
}

QString unusableReasons(const InspectReport& report) {
    QStringList reasons;
    for (const auto& p : report.problems) reasons << QString::fromStdString(p);
    if (reasons.isEmpty() && !report.runnable) reasons << QString::fromStdString(report.not_runnable_reason);
    return reasons.join("\n");
}
}  // namespace

QStringList ModelManagerDialog::knownModelFolders() {
    QStringList folders = QSettings().value(kKnownKey).toStringList();
    folders.removeDuplicates();
    return folders;
}

void ModelManagerDialog::rememberModelFolder(const QString& folder) {
    QSettings settings;
    auto folders = settings.value(kKnownKey).toStringList();
    folders.removeAll(folder);
    folders.prepend(folder);
    settings.setValue(kKnownKey, folders);
}

ModelManagerDialog::ModelManagerDialog(InferenceService& service, QWidget* parent) : QDialog(parent), service_(service) {
    setObjectName("modelManager");
    setWindowTitle(tr("Models"));
    resize(900, 760);
    auto* layout = new QVBoxLayout(this);
    auto* split = new QSplitter(Qt::Horizontal, this);

    auto* left = new QWidget(split);
    auto* leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    list_ = new QListWidget(left);
    list_->setObjectName("knownModels");
    auto* add = new QPushButton(tr("Add Model Folder…"), left);
    add->setObjectName("addModelFolder");
    auto* addGguf = new QPushButton(tr("Add GGUF File…"), left);
    addGguf->setObjectName("addGgufFile");
    addGguf->setToolTip(tr("A llama.cpp model file (.gguf); a vision model's mmproj .gguf must lie beside it"));
    auto* remove = new QPushButton(tr("Remove from List"), left);
    leftLayout->addWidget(new QLabel(tr("Known models"), left));
    leftLayout->addWidget(list_, 1);
    auto* listButtons = new QHBoxLayout;
    listButtons->addWidget(add);
    listButtons->addWidget(addGguf);
    listButtons->addWidget(remove);
    leftLayout->addLayout(listButtons);

    report_ = new QPlainTextEdit(split);
    report_->setObjectName("modelReport");
    report_->setReadOnly(true);
    report_->setLineWrapMode(QPlainTextEdit::NoWrap);
    report_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    split->addWidget(left);
    split->addWidget(report_);
    split->setSizes({320, 580});
    layout->addWidget(split, 1);

    // Where else a model comes from: a download, or a serving engine elsewhere.
    auto* sources = new QTabWidget(this);
    sources->setObjectName("modelSources");
    auto* hub = new HubDownloadPanel(sources);
    sources_ = sources;
    hub_ = hub;
    auto* remote = new RemoteServerPanel(sources);
    sources->addTab(hub, tr("Download"));
    sources->addTab(remote, tr("Serving Engine"));
    layout->addWidget(sources);
    connect(remote, &RemoteServerPanel::connectRequested, this, [this](const QString& server, const QString& model, const QString& key) {
        if (service_.isLoading()) return;
        service_.stopWork();  // the old model's answer, capture or measurement ends before it goes
        LoadRequest request;
        request.server = server;
        request.folder = model;
        request.apiKey = key;
        request.maxImagePixels = pictures_->currentData().toLongLong();
        service_.loadModel(request);
    });
    // A model folder is added as it is; a repository of GGUF files adds each text model file (its mmproj beside it).
    connect(hub, &HubDownloadPanel::downloaded, this, [this](const QString& snapshot) {
        QDir folder(snapshot);
        if (folder.exists("config.json")) {
            addModelFolder(snapshot);
            return;
        }
        for (const auto& file : folder.entryList({"*.gguf"}, QDir::Files, QDir::Name))
            if (!file.contains("mmproj", Qt::CaseInsensitive)) addModelFolder(folder.filePath(file));
    });

    auto* options = new QFormLayout;
    device_ = new QComboBox(this);
    device_->setObjectName("device");
    device_->addItem(tr("CPU"), "cpu");
    device_->addItem(tr("CUDA GPU"), "cuda");
    if (!cuda_available()) {
        device_->setItemData(1, false, Qt::UserRole - 1);  // disabled entry
        device_->setItemText(1, tr("CUDA GPU (none found)"));
    }
    compute_ = new QComboBox(this);
    compute_->setObjectName("compute");
    compute_->addItem(tr("Automatic (bf16 where fast, else f32)"), "auto");
    compute_->addItem(tr("bf16"), "bf16");
    compute_->addItem(tr("f32"), "f32");
    weights_ = new QComboBox(this);
    weights_->setObjectName("weights");
    weights_->setToolTip(tr("The language model's weight matrices can be quantized as the model loads (GGUF's formats): "
                            "a quarter to an eighth of f32's memory, and decoding reads that much less per token. "
                            "The CPU only; activations stay f32."));
    weights_->addItem(tr("As the precision says"), "auto");
    weights_->addItem(tr("Q8_0 (8-bit)"), "q8_0");
    weights_->addItem(tr("Q4_K (4-bit)"), "q4_k");
    weights_->addItem(tr("Q4_0 (4-bit)"), "q4_0");
    for (int i = 0; i < weights_->count(); ++i) weights_->setItemData(i, weights_->itemText(i), kPlainLabelRole);
    context_ = new QSpinBox(this);
    context_->setObjectName("contextTokens");
    context_->setRange(256, 262144);
    context_->setSingleStep(1024);
    context_->setSuffix(tr(" tokens"));
    context_->setToolTip(tr("The most tokens a conversation holds (pictures, questions, answers); at most the window the "
                            "model was trained for"));
    // The largest picture the model reads: it sets the image tokens, and so the time and memory a page costs.
    pictures_ = new QComboBox(this);
    pictures_->setObjectName("pictureBudget");
    pictures_->setToolTip(tr("Larger pictures are resized down to this many pixels before the model reads them. More pixels "
                             "read smaller print, and cost time and memory: on a CPU, about 1 M pixels per 2 cores answers "
                             "within a minute."));
    pictures_->addItem(QString(), qint64{0});
    for (const qint64 pixels : {qint64{1} << 18, qint64{1} << 19, qint64{1} << 20, qint64{1} << 21, qint64{1} << 22, qint64{1} << 23, qint64{16777216}})
        pictures_->addItem(pixels == 16777216 ? tr("%1, the model's maximum").arg(describePixels(pixels)) : describePixels(pixels), pixels);
    const auto describeAutomatic = [this] {
        const auto device = device_->currentData().toString() == "cuda" ? DeviceKind::cuda : DeviceKind::cpu;
        pictures_->setItemText(0, tr("Automatic: %1").arg(describePixels(automatic_image_pixels(device, 0))));
    };
    describeAutomatic();
    connect(device_, &QComboBox::currentIndexChanged, this, describeAutomatic);
    QSettings settings;
    device_->setCurrentIndex(settings.value(kDeviceKey).toString() == "cuda" && cuda_available() ? 1 : 0);
    pictures_->setCurrentIndex(std::max(0, pictures_->findData(settings.value(kPictureKey, qint64{0}).toLongLong())));
    compute_->setCurrentIndex(std::max(0, compute_->findData(settings.value(kComputeKey, "auto"))));
    weights_->setCurrentIndex(std::max(0, weights_->findData(settings.value(kWeightsKey, "auto"))));
    context_->setValue(settings.value(kContextKey, 4096).toInt());
    options->addRow(tr("Device"), device_);
    options->addRow(tr("Precision"), compute_);
    options->addRow(tr("Weights"), weights_);
    options->addRow(tr("Context"), context_);
    options->addRow(tr("Pictures"), pictures_);
    layout->addLayout(options);

    auto* actions = new QHBoxLayout;
    progress_ = new QProgressBar(this);
    progress_->setObjectName("loadProgress");
    progress_->setRange(0, 1000);
    progress_->setTextVisible(false);
    status_ = new QLabel(this);
    status_->setObjectName("modelManagerStatus");
    status_->setWordWrap(true);
    load_ = new QPushButton(tr("Load"), this);
    load_->setObjectName("loadModel");
    load_->setDefault(true);
    cancel_ = new QPushButton(tr("Cancel Loading"), this);
    unload_ = new QPushButton(tr("Unload"), this);
    unload_->setObjectName("unloadModel");
    auto* close = new QPushButton(tr("Close"), this);
    actions->addWidget(status_, 1);
    actions->addWidget(progress_);
    actions->addWidget(load_);
    actions->addWidget(cancel_);
    actions->addWidget(unload_);
    actions->addWidget(close);
    layout->addLayout(actions);

    connect(add, &QPushButton::clicked, this, [this] {
        const auto folder = QFileDialog::getExistingDirectory(this, tr("Model folder (config.json, safetensors, tokenizer)"),
                                                              QSettings().value("models/lastFolder").toString());
        if (folder.isEmpty()) return;
        QSettings().setValue("models/lastFolder", folder);
        addModelFolder(folder);
    });
    connect(addGguf, &QPushButton::clicked, this, [this] {
        const auto file = QFileDialog::getOpenFileName(this, tr("GGUF model (the text model; its mmproj beside it)"),
                                                       QSettings().value("models/lastFolder").toString(), tr("GGUF models (*.gguf)"));
        if (file.isEmpty()) return;
        QSettings().setValue("models/lastFolder", QFileInfo(file).absolutePath());
        addModelFolder(file);
    });
    connect(remove, &QPushButton::clicked, this, [this] {
        const auto folder = selectedFolder();
        if (folder.isEmpty()) return;
        auto folders = knownModelFolders();
        folders.removeAll(folder);
        QSettings().setValue(kKnownKey, folders);
        refreshList();
    });
    connect(list_, &QListWidget::currentRowChanged, this, [this] {
        showReport(selectedFolder());
        updateState();
    });
    connect(list_, &QListWidget::itemDoubleClicked, this, &ModelManagerDialog::loadSelected);
    connect(load_, &QPushButton::clicked, this, &ModelManagerDialog::loadSelected);
    connect(cancel_, &QPushButton::clicked, &service_, [this] { service_.stop(InferenceService::RequestKind::load); });
    connect(unload_, &QPushButton::clicked, &service_, &InferenceService::unloadModel);
    connect(close, &QPushButton::clicked, this, &QDialog::close);

    connect(&service_, &InferenceService::loadStarted, this, [this](const QString& folder) {
        status_->setText(tr("Loading %1…").arg(QFileInfo(folder).fileName()));
        progress_->setValue(0);
        updateState();
    });
    connect(&service_, &InferenceService::loadProgress, this, [this](double f) { progress_->setValue(static_cast<int>(f * 1000)); });
    connect(&service_, &InferenceService::modelLoaded, this, [this](const LoadedModel& m) {
        auto text = tr("Loaded %1 (%2, %3, %4)").arg(QFileInfo(m.folder).fileName(), m.displayName, m.device, m.compute);
        if (m.contextTokens > 0 && m.contextTokens < context_->value())
            text += tr("; context %1 tokens, the window it was trained for").arg(m.contextTokens);
        if (m.maxImagePixels > 0) text += tr("; pictures up to %1").arg(describePixels(m.maxImagePixels));
        status_->setText(text + ".");
        updateState();
    });
    connect(&service_, &InferenceService::modelLoadFailed, this, [this](const QString& message, bool cancelled) {
        status_->setText(cancelled ? tr("Loading cancelled.") : tr("<span style='color:#b00020'>%1</span>").arg(message.toHtmlEscaped()));
        progress_->setValue(0);
        updateState();
    });
    connect(&service_, &InferenceService::modelUnloaded, this, [this] {
        status_->setText(tr("No model loaded."));
        progress_->setValue(0);
        updateState();
    });

    refreshList();
    updateState();
}

void ModelManagerDialog::refreshList() {
    const auto current = selectedFolder();
    const QSignalBlocker block(list_);
    list_->clear();
    const auto known = knownModelFolders();
    for (const auto& folder : known) {
        auto* item = new QListWidgetItem(QString("%1\n%2").arg(QFileInfo(folder).fileName(), folder), list_);
        item->setData(Qt::UserRole, folder);
        const bool present = folder.endsWith(".gguf", Qt::CaseInsensitive) ? QFileInfo::exists(folder) : QFileInfo::exists(folder + "/config.json");
        if (!present) item->setForeground(Qt::gray);
    }
    // What Python's huggingface_hub (or an earlier download here) already put in the shared cache.
    for (const auto& cached : hub_cached_models(hub_settings_from_environment())) {
        const auto folder = QString::fromStdString(cached.snapshot.string());
        if (known.contains(folder)) continue;
        auto* item = new QListWidgetItem(tr("%1\nHugging Face cache · %2").arg(QString::fromStdString(cached.repo), folder), list_);
        item->setData(Qt::UserRole, folder);
    }
    // And what LM Studio and llama.cpp downloaded (GGUF files, each read with the mmproj beside it).
    for (const auto& other : gguf_models_of_other_apps()) {
        const auto file = QString::fromStdString(other.file.string());
        if (known.contains(file)) continue;
        auto* item = new QListWidgetItem(tr("%1\n%2 · %3").arg(QFileInfo(file).fileName(), QString::fromStdString(other.app), file), list_);
        item->setData(Qt::UserRole, file);
    }
    if (current.isEmpty() || !selectListed(current))
        if (list_->count() > 0) list_->setCurrentRow(0);
    showReport(selectedFolder());
}

bool ModelManagerDialog::selectListed(const QString& folder) {
    for (int i = 0; i < list_->count(); ++i)
        if (list_->item(i)->data(Qt::UserRole).toString() == folder) {
            list_->setCurrentRow(i);
            return true;
        }
    return false;
}

void ModelManagerDialog::selectFolder(const QString& folder) {
    // A folder remembered since the list was filled (a model given on the command line, loaded from the chat).
    if (!selectListed(folder)) {
        refreshList();
        selectListed(folder);
    }
}

QString ModelManagerDialog::selectedFolder() const {
    const auto* item = list_->currentItem();
    return item ? item->data(Qt::UserRole).toString() : QString();
}

void ModelManagerDialog::addModelFolder(const QString& folder) {
    status_->setText(tr("Checking %1…").arg(folder));
    auto* watcher = new QFutureWatcher<InspectReport>(this);
    connect(watcher, &QFutureWatcher<InspectReport>::finished, this, [this, watcher, folder] {
        watcher->deleteLater();
        const auto report = watcher->result();
        const auto reasons = unusableReasons(report);
        if (!reasons.isEmpty()) {
            status_->setText(tr("<span style='color:#b00020'>%1 cannot be used:</span> %2")
                                 .arg(QFileInfo(folder).fileName().toHtmlEscaped(), reasons.toHtmlEscaped().replace("\n", "; ")));
            report_->setPlainText(QString::fromStdString(to_text(report)));
            Q_EMIT folderChecked(folder, false, reasons);
            return;
        }
        rememberModelFolder(folder);
        refreshList();
        selectFolder(folder);
        status_->setText(tr("Added %1: %2, %3 parameters.")
                             .arg(QFileInfo(folder).fileName(), QString::fromStdString(report.display_name),
                                  QString::fromStdString(human_count(report.total_parameters))));
        Q_EMIT folderChecked(folder, true, {});
    });
    const auto path = folder.toStdString();
    watcher->setFuture(QtConcurrent::run([path] { return inspect_model(path); }));
}

void ModelManagerDialog::showReport(const QString& folder) {
    if (folder.isEmpty()) {
        report_->setPlainText(tr("Add a model folder: a Hugging Face style folder with config.json, the safetensors "
                                 "weights and the tokenizer, of Qwen3-VL or DeepStack-L/-V; or a llama.cpp GGUF file of "
                                 "Qwen3-VL with its mmproj file beside it."));
        return;
    }
    report_->setPlainText(tr("Checking %1…").arg(folder));
    auto* watcher = new QFutureWatcher<InspectReport>(this);
    connect(watcher, &QFutureWatcher<InspectReport>::finished, this, [this, watcher, folder] {
        watcher->deleteLater();
        if (selectedFolder() != folder) return;
        const auto report = watcher->result();
        report_->setPlainText(speedText(folder) + "\n\n" + QString::fromStdString(to_text(report)));
        showWeightsMemory(report);
    });
    const auto path = folder.toStdString();
    watcher->setFuture(QtConcurrent::run([path] { return inspect_model(path); }));
}

void ModelManagerDialog::showEvent(QShowEvent* event) {
    QDialog::showEvent(event);
    showReport(selectedFolder());
}

QString ModelManagerDialog::speedText(const QString& folder) {
    // Every device and precision this folder has run with here (the first load of each measures it).
    QStringList lines;
    for (const auto* device : {"cpu", "cuda:0"})
        for (const auto* compute : {"bf16", "f32", "q8_0", "q4_k", "q4_0"})
            if (const auto rates = keptSpeed(folder, device, compute))
                lines << tr("  %1 %2: first word ≈ %3 for a 300-token page, then %4 tokens/s")
                             .arg(QString(device).toUpper(), compute)
                             .arg(describeDuration(rates->secondsToFirstWord(300, 64)))
                             .arg(rates->decodeTokensPerSecond, 0, 'f', rates->decodeTokensPerSecond < 10 ? 1 : 0);
    if (lines.isEmpty()) return tr("Speed on this machine: not measured yet (loading it measures it with a short question about a page).");
    return tr("Speed on this machine (measured, moved by every answer since):\n%1").arg(lines.join("\n"));
}

void ModelManagerDialog::showWeightsMemory(const InspectReport& report) {
    const auto device = device_->currentData().toString() == "cuda" ? DeviceKind::cuda : DeviceKind::cpu;
    const auto compute = compute_->currentData().toString();
    const auto computeType = compute == "bf16" ? ComputeType::bf16 : compute == "f32" ? ComputeType::f32 : ComputeType::automatic;
    const WeightFormat formats[] = {WeightFormat::automatic, WeightFormat::q8_0, WeightFormat::q4_k, WeightFormat::q4_0};
    for (int i = 0; i < weights_->count(); ++i) {
        const auto plain = weights_->itemData(i, kPlainLabelRole).toString();
        if (report.total_parameters <= 0) {
            weights_->setItemText(i, plain);
            continue;
        }
        const auto bytes = weights_memory_bytes(report, computeType, formats[i], device);
        weights_->setItemText(i, tr("%1: weights %2").arg(plain, QString::fromStdString(human_bytes(bytes))));
    }
}

void ModelManagerDialog::offerDownload(const QString& repository) {
    sources_->setCurrentWidget(hub_);
    hub_->choose(repository);
    show();
    raise();
}

void ModelManagerDialog::loadSelected() {
    const auto folder = selectedFolder();
    if (folder.isEmpty() || service_.isLoading()) return;
    service_.stopWork();  // the old model's answer, capture or measurement ends before it goes
    QSettings settings;
    settings.setValue(kDeviceKey, device_->currentData());
    settings.setValue(kComputeKey, compute_->currentData());
    settings.setValue(kWeightsKey, weights_->currentData());
    settings.setValue(kContextKey, context_->value());
    settings.setValue(kPictureKey, pictures_->currentData().toLongLong());
    settings.setValue("models/lastLoaded", folder);
    LoadRequest request;
    request.folder = folder;
    request.device = device_->currentData().toString() == "cuda" ? DeviceChoice::cuda : DeviceChoice::cpu;
    const auto compute = compute_->currentData().toString();
    request.compute = compute == "bf16" ? ComputeChoice::bf16 : compute == "f32" ? ComputeChoice::f32 : ComputeChoice::automatic;
    const auto weights = weights_->currentData().toString();
    request.weights = weights == "q8_0"   ? WeightsChoice::q8_0
                      : weights == "q4_k" ? WeightsChoice::q4_k
                      : weights == "q4_0" ? WeightsChoice::q4_0
                                          : WeightsChoice::automatic;
    request.contextTokens = context_->value();
    request.maxImagePixels = pictures_->currentData().toLongLong();
    service_.loadModel(request);
}

void ModelManagerDialog::updateState() {
    const bool loading = service_.isLoading();
    load_->setEnabled(!loading && !selectedFolder().isEmpty());
    cancel_->setVisible(loading);
    unload_->setEnabled(!loading && service_.model().has_value());
    progress_->setVisible(loading);
}

}  // namespace deepstack::ui

#include "compare/ComparePanel.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QStandardPaths>
#include <QTextBrowser>
#include <QUuid>
#include <QVBoxLayout>

#include "inference/InferenceService.h"
#include "inference/SpeedRecords.h"
#include "workspace/WorkspaceModel.h"

namespace deepstack::ui {

ComparePanel::ComparePanel(InferenceService& main, WorkspaceModel& workspace, QWidget* parent)
    : QWidget(parent), main_(main), workspace_(workspace), second_(new InferenceService(this)) {
    setObjectName("comparePanel");
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);

    auto* models = new QGridLayout();
    models->addWidget(new QLabel(tr("A:"), this), 0, 0);
    modelA_ = new QLabel(this);
    models->addWidget(modelA_, 0, 1, 1, 4);
    models->addWidget(new QLabel(tr("B:"), this), 1, 0);
    folderB_ = new QLineEdit(this);
    folderB_->setObjectName("compareFolder");
    folderB_->setPlaceholderText(tr("A second model folder or GGUF file"));
    chooseB_ = new QPushButton(tr("Choose…"), this);
    twin_ = new QPushButton(tr("A Without Stacks"), this);
    twin_->setObjectName("compareTwin");
    twin_->setToolTip(tr("A DeepStack model's twin that reads the global view alone: the same weights, no stacked groups"));
    loadB_ = new QPushButton(tr("Load B"), this);
    loadB_->setObjectName("compareLoad");
    models->addWidget(folderB_, 1, 1);
    models->addWidget(chooseB_, 1, 2);
    models->addWidget(twin_, 1, 3);
    models->addWidget(loadB_, 1, 4);
    modelB_ = new QLabel(tr("No second model loaded."), this);
    modelB_->setObjectName("compareModelB");
    models->addWidget(modelB_, 2, 1, 1, 4);
    models->setColumnStretch(1, 1);
    layout->addLayout(models);

    auto* askRow = new QHBoxLayout();
    questionBox_ = new QLineEdit(this);
    questionBox_->setObjectName("compareQuestion");
    questionBox_->setPlaceholderText(tr("A question about the ticked pages, for both models"));
    ask_ = new QPushButton(tr("Ask Both"), this);
    ask_->setObjectName("compareAsk");
    askRow->addWidget(questionBox_, 1);
    askRow->addWidget(ask_);
    layout->addLayout(askRow);
    status_ = new QLabel(tr("Load a second model, tick pages, and ask both the same question."), this);
    status_->setObjectName("compareStatus");
    status_->setWordWrap(true);
    layout->addWidget(status_);

    auto* columns = new QHBoxLayout();
    const auto column = [&](QLabel*& title, QTextBrowser*& text, QLabel*& stats, const QString& name) {
        auto* box = new QVBoxLayout();
        title = new QLabel(this);
        title->setStyleSheet("font-weight: bold");
        text = new QTextBrowser(this);
        text->setObjectName(name);
        stats = new QLabel(this);
        stats->setObjectName(name + "Stats");
        stats->setWordWrap(true);
        stats->setStyleSheet("color: #555");
        box->addWidget(title);
        box->addWidget(text, 1);
        box->addWidget(stats);
        columns->addLayout(box, 1);
    };
    column(titleA_, textA_, statsA_, "compareAnswerA");
    column(titleB_, textB_, statsB_, "compareAnswerB");
    layout->addLayout(columns, 1);

    connect(chooseB_, &QPushButton::clicked, this, [this] {
        const auto folder = QFileDialog::getExistingDirectory(this, tr("The second model's folder"));
        if (!folder.isEmpty()) folderB_->setText(folder);
    });
    connect(twin_, &QPushButton::clicked, this, &ComparePanel::loadTwinOfA);
    connect(loadB_, &QPushButton::clicked, this, [this] { loadSecondModel(folderB_->text().trimmed()); });
    connect(ask_, &QPushButton::clicked, this, [this] { askBoth(questionBox_->text()); });
    connect(questionBox_, &QLineEdit::returnPressed, this, [this] { askBoth(questionBox_->text()); });

    connect(&main_, &InferenceService::modelLoaded, this, &ComparePanel::refreshModels);
    connect(&main_, &InferenceService::modelUnloaded, this, &ComparePanel::refreshModels);
    connect(second_, &InferenceService::modelLoaded, this, [this] {
        refreshModels();
        warmUpSecond();
    });
    connect(second_, &InferenceService::loadProgress, this, [this](double f) { modelB_->setText(tr("Loading… %1 %").arg(qRound(f * 100))); });
    connect(second_, &InferenceService::modelLoadFailed, this, [this](const QString& message, bool cancelled) {
        refreshModels();
        if (!cancelled) Q_EMIT problem(tr("The second model could not be loaded"), message);
    });
    // Both workers' answers, each taken only for this panel's own run.
    for (auto [service, side] : {std::pair{&main_, Side::a}, std::pair{second_, Side::b}}) {
        connect(service, &InferenceService::textStreamed, this, [this, side](const QString& id, const QString& text, int) {
            if (running_ != side || id != runId_) return;
            auto* box = side == Side::a ? textA_ : textB_;
            box->setPlainText(box->toPlainText() + text);
        });
        connect(service, &InferenceService::generationFinished, this, [this, side](const GenerateResult& result) {
            if (side == Side::b && !warmUpId_.isEmpty() && result.conversationId == warmUpId_) {
                warmUpId_.clear();
                if (!isRunning()) status_->setText(tr("B is ready: tick pages and ask both the same question."));
                return;
            }
            if (running_ != side || result.conversationId != runId_) return;
            showResult(side, result);
        });
        connect(service, &InferenceService::generationFailed, this, [this, side](const QString& id, const QString& message) {
            if (side == Side::b && !warmUpId_.isEmpty() && id == warmUpId_) {
                warmUpId_.clear();
                if (!isRunning()) status_->setText(tr("B could not answer its first, untimed question: %1").arg(message));
                return;
            }
            if (running_ != side || id != runId_) return;
            running_ = Side::none;
            ask_->setEnabled(true);
            status_->setText(tr("%1 could not answer: %2").arg(side == Side::a ? "A" : "B", message));
            Q_EMIT finished();
        });
    }
    refreshModels();
}

void ComparePanel::refreshModels() {
    const auto describe = [](const std::optional<LoadedModel>& m) {
        return m ? tr("%1 · %2 · %3 %4").arg(QFileInfo(m->folder).fileName(), m->displayName, m->device, m->compute) : QString();
    };
    const auto& a = main_.model();
    modelA_->setText(a ? describe(a) + tr(" (the loaded model)") : tr("No model loaded: load one in Model › Models…"));
    twin_->setEnabled(a.has_value() && a->family == "deepstack_llama");
    const auto& b = second_->model();
    if (!second_->isLoading()) modelB_->setText(b ? describe(b) : tr("No second model loaded."));
    titleA_->setText(a ? tr("A: %1").arg(QFileInfo(a->folder).fileName()) : tr("A"));
    titleB_->setText(b ? tr("B: %1").arg(QFileInfo(b->folder).fileName()) : tr("B"));
}

QString ComparePanel::twinWithoutStacks(const QString& folder, QString* error) {
    const QDir source(folder);
    QFile configFile(source.filePath("config.json"));
    if (!configFile.open(QIODevice::ReadOnly)) {
        if (error != nullptr) *error = tr("%1 cannot be read: %2").arg(configFile.fileName(), configFile.errorString());
        return {};
    }
    auto config = QJsonDocument::fromJson(configFile.readAll()).object();
    if (config.value("model_type").toString() != "deepstack_llama") {
        if (error != nullptr)
            *error = tr("Only a DeepStack-L model has a twin without stacks here (the same weights reading the global view "
                        "alone). For any model, the Stacks tab leaves each group out of the latest answer.");
        return {};
    }
    config.insert("deepstack_args_for_ablation", "nostack");
    const auto key = QCryptographicHash::hash(QFileInfo(folder).absoluteFilePath().toUtf8(), QCryptographicHash::Sha256).toHex().left(12);
    const QDir twin(QStandardPaths::writableLocation(QStandardPaths::CacheLocation) + "/twins/" + QFileInfo(folder).fileName() + "-nostack-" + key);
    if (!twin.mkpath(".")) {
        if (error != nullptr) *error = tr("%1 cannot be created").arg(twin.path());
        return {};
    }
    for (const auto& entry : source.entryInfoList(QDir::Files)) {
        const auto target = twin.filePath(entry.fileName());
        QFile::remove(target);
        if (entry.fileName() == "config.json") continue;
        if (!QFile::link(entry.absoluteFilePath(), target)) {
            if (error != nullptr) *error = tr("%1 cannot be linked into %2").arg(entry.fileName(), twin.path());
            return {};
        }
    }
    QFile out(twin.filePath("config.json"));
    if (!out.open(QIODevice::WriteOnly) || out.write(QJsonDocument(config).toJson()) < 0) {
        if (error != nullptr) *error = tr("%1 cannot be written").arg(out.fileName());
        return {};
    }
    return twin.path();
}

void ComparePanel::loadTwinOfA() {
    const auto& a = main_.model();
    if (!a) return;
    QString error;
    const auto twin = twinWithoutStacks(a->folder, &error);
    if (twin.isEmpty()) {
        Q_EMIT problem(tr("Compare"), error);
        return;
    }
    folderB_->setText(twin);
    loadSecondModel(twin);
}

void ComparePanel::loadSecondModel(const QString& folder) {
    if (folder.isEmpty()) {
        Q_EMIT problem(tr("Compare"), tr("Choose the second model's folder first."));
        return;
    }
    if (isRunning()) return;
    LoadRequest request;
    request.folder = folder;
    if (const auto& a = main_.model()) {  // the same device, context and picture budget as A, for a fair comparison
        request.device = a->device.startsWith("cuda") ? DeviceChoice::cuda : DeviceChoice::cpu;
        request.contextTokens = a->contextTokens;
        request.maxImagePixels = a->maxImagePixels;
    }
    modelB_->setText(tr("Loading %1…").arg(QFileInfo(folder).fileName()));
    second_->loadModel(request);
}

void ComparePanel::warmUpSecond() {
    // A model's first pass also sets up its kernels, threads and buffers (several times slower on the tiny test
    // model), which A paid when it was loaded (MainWindow's calibration): B pays it now, untimed, or its first
    // answer would look slower than it is. A question asked meanwhile waits behind it on B's worker.
    GenerateRequest request;
    request.question = {tr("Describe this page in one line."), {speedProbePage(dpiSource_ ? dpiSource_() : 144)}};
    request.sampling.maxTokens = 2;
    request.conversationId = warmUpId_ = "compare-warm-up:" + QUuid::createUuid().toString(QUuid::WithoutBraces);
    status_->setText(tr("B is making an untimed first pass, as A did when it was loaded…"));
    second_->generate(request);
}

bool ComparePanel::askBoth(const QString& question) {
    const auto fail = [this](const QString& why) {
        status_->setText(why);
        return false;
    };
    if (isRunning()) return fail(tr("Both models are still answering."));
    if (!main_.model()) return fail(tr("Load a model first (Model › Models…): it answers as A."));
    if (!second_->model()) return fail(tr("Load a second model (B) first."));
    // B's untimed first pass may still run: B's answer queues behind it, after A has answered.
    if (main_.isBusy() || (second_->isBusy() && warmUpId_.isEmpty())) return fail(tr("A model is busy: ask again once it has finished."));
    if (question.trimmed().isEmpty()) return fail(tr("Type a question first."));
    const auto pages = workspace_.attachedPages();
    if (pages.isEmpty()) return fail(tr("Tick the pages to ask about on the Pages tab."));
    question_ = TurnInput{question.trimmed(), {}};
    const double dpi = dpiSource_ ? dpiSource_() : 144;
    questionPictures_ = picturesKey(pages, dpi);
    for (const auto& page : pages) {
        QString error;
        const auto image = workspace_.renderForModel(page, dpi, &error);
        if (image.isNull()) return fail(error);
        question_.images.append(image);
    }
    runId_ = "compare-" + QUuid::createUuid().toString(QUuid::WithoutBraces);
    resultA_.reset();
    resultB_.reset();
    textA_->clear();
    textB_->clear();
    statsA_->clear();
    statsB_->clear();
    ask_->setEnabled(false);
    start(Side::a);
    return true;
}

void ComparePanel::start(Side side) {
    running_ = side;
    status_->setText(side == Side::a ? tr("A is answering…") : tr("B is answering…"));
    GenerateRequest request;
    request.conversationId = runId_;
    request.question = question_;
    request.picturesKey = questionPictures_;
    request.sampling = samplingSource_ ? samplingSource_() : SamplingOptions{};
    (side == Side::a ? main_ : *second_).generate(request);
}

QString ComparePanel::statsText(const GenerateResult& r) const {
    const auto& t = r.timings;
    return tr("first token %1 ms (%2, prefill %3) · %4 tokens at %5 tok/s · %6 image tokens of %7 in the prompt · %8")
        .arg(t.timeToFirstTokenMs, 0, 'f', 0)
        .arg(visionTimeText(t))
        .arg(t.prefillMs, 0, 'f', 0)
        .arg(r.tokens.size())
        .arg(t.decodeTokensPerSecond, 0, 'f', 1)
        .arg(t.imageTokens)
        .arg(t.promptTokens)
        .arg(r.stopReason);
}

void ComparePanel::showResult(Side side, const GenerateResult& result) {
    (side == Side::a ? statsA_ : statsB_)->setText(statsText(result));
    if (side == Side::a) {
        resultA_ = result;
        start(Side::b);
        return;
    }
    resultB_ = result;
    running_ = Side::none;
    ask_->setEnabled(true);
    const bool same = resultA_ && resultA_->tokens == result.tokens;
    const auto& a = resultA_->timings;
    status_->setText((same ? tr("The same answer.") : tr("The answers differ.")) +
                     (a.timeToFirstTokenMs > 0 ? tr(" B's first token took %1x A's.").arg(result.timings.timeToFirstTokenMs / a.timeToFirstTokenMs, 0, 'f', 2) : QString()));
    Q_EMIT finished();
}

QString ComparePanel::answerA() const { return textA_->toPlainText(); }
QString ComparePanel::answerB() const { return textB_->toPlainText(); }
QString ComparePanel::statusText() const { return status_->text(); }

}  // namespace deepstack::ui

#include "MainWindow.h"

#include "Counted.h"
#include "RgbImages.h"

#include <QAction>
#include <QInputDialog>
#include <QCryptographicHash>
#include <QApplication>
#include <QCloseEvent>
#include <QDragEnterEvent>
#include <QFileDialog>
#include <QCoreApplication>
#include <QPushButton>
#include <QVBoxLayout>
#include <QHBoxLayout>
#include <QFrame>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QLabel>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QListView>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPixmap>
#include <QProgressBar>
#include <QSaveFile>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QTimer>
#include <QUuid>
#include <QtConcurrent/QtConcurrentRun>

#include "ModelReportDialog.h"
#include "attention/AnswerReport.h"
#include "attention/AttentionPanel.h"
#include "attention/StackMapView.h"
#include "stacks/StacksPanel.h"
#include "compare/ComparePanel.h"
#include "demo/DemoRecorder.h"
#include "demo/ReplayBar.h"
#include "deepstack/grounding.h"
#include "deepstack/page_ranking.h"
#include "workspace/PageView.h"
#include "chat/ChatController.h"
#include "chat/ChatPanel.h"
#include "chat/ConversationExport.h"
#include "chat/ChatView.h"
#include "deepstack/stack_plan.h"
#include "deepstack/engine.h"
#include "deepstack/inspect.h"
#include "deepstack/system.h"
#include "inference/InferenceService.h"
#include "models/HubDownloadPanel.h"
#include "models/ModelManagerDialog.h"
#include "workspace/WorkspaceDocument.h"
#include "workspace/WorkspaceModel.h"
#include "workspace/WorkspacePanel.h"

namespace deepstack::ui {

namespace {
const char* kGeometryKey = "mainWindow/geometry";
const char* kStateKey = "mainWindow/state";
const char* kSplitterKey = "mainWindow/splitter";
const char* kLastModelFolderKey = "models/lastFolder";
const char* kLastModelKey = "models/lastLoaded";
const char* kRecentKey = "workspace/recentFiles";
const char* kLastOpenFolderKey = "workspace/lastFolder";
const char* kRenderDpiKey = "workspace/renderDpi";
constexpr int kRecentFiles = 10;

// A model folder may say which questions it answers well (sample_questions.json: {"questions": [...]}); the chat
// offers them. Optional: a folder without the file offers none, and a broken file is reported in `problem`.
QStringList sampleQuestions(const QString& folder, QString* problem) {
    QFile file(QDir(folder).filePath("sample_questions.json"));
    if (!file.exists()) return {};
    const auto name = QDir::toNativeSeparators(file.fileName());
    if (!file.open(QIODevice::ReadOnly)) {
        *problem = QObject::tr("%1 could not be read (%2); no sample questions are offered").arg(name, file.errorString());
        return {};
    }
    QJsonParseError error{};
    const auto json = QJsonDocument::fromJson(file.readAll(), &error);
    if (error.error != QJsonParseError::NoError) {
        *problem = QObject::tr("%1 is not valid JSON (%2 at byte %3); no sample questions are offered").arg(name, error.errorString()).arg(error.offset);
        return {};
    }
    QStringList questions;
    for (const auto& q : json.object().value("questions").toArray())
        if (q.isString() && !q.toString().trimmed().isEmpty()) questions << q.toString().trimmed();
    if (questions.isEmpty()) *problem = QObject::tr("%1 lists no questions; none are offered").arg(name);
    return questions;
}
}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle(tr("DeepStack Studio"));
    setWindowIcon(QIcon(":/icons/deepstack-studio.svg"));
    setAcceptDrops(true);

    workspaceModel_ = new WorkspaceModel(this);
    inference_ = new InferenceService(this);
    chat_ = new ChatController(*inference_, *workspaceModel_, ConversationStore(), this);

    auto* split = createPanels();
    setCentralWidget(split);
    createMenus();
    createStatusBar();
    connectWorkspaceAndChat();
    connectModelLoading();
    connectStacksAndAttention();
    restoreSettings(split);
}

MainWindow::~MainWindow() = default;

QSplitter* MainWindow::createPanels() {
    auto* split = new QSplitter(Qt::Horizontal, this);
    split->setObjectName("mainSplitter");
    leftTabs_ = new QTabWidget(split);
    leftTabs_->setObjectName("leftTabs");
    leftTabs_->setDocumentMode(true);
    workspacePanel_ = new WorkspacePanel(*workspaceModel_, leftTabs_);
    attentionPanel_ = new AttentionPanel(leftTabs_);
    leftTabs_->addTab(workspacePanel_, tr("Pages"));
    leftTabs_->addTab(attentionPanel_, tr("Attention"));
    stacksPanel_ = new StacksPanel(leftTabs_);
    leftTabs_->addTab(stacksPanel_, tr("Stacks"));
    comparePanel_ = new ComparePanel(*inference_, *workspaceModel_, leftTabs_);
    leftTabs_->addTab(comparePanel_, tr("Compare"));
    // The chat column: while no model is loaded, a line above the chat says how to get one.
    auto* chatColumn = new QWidget(split);
    auto* chatLayout = new QVBoxLayout(chatColumn);
    chatLayout->setContentsMargins(0, 0, 0, 0);
    createModelHint(chatColumn);
    chatPanel_ = new ChatPanel(*chat_, *workspaceModel_, chatColumn);
    replayBar_ = new ReplayBar(*chatPanel_->view(), *attentionPanel_, *workspaceModel_, chatColumn);
    recorder_ = new DemoRecorder(*chat_, *inference_, *workspaceModel_, this);
    chatLayout->addWidget(replayBar_);
    chatLayout->addWidget(modelHint_);
    chatLayout->addWidget(chatPanel_, 1);
    split->addWidget(leftTabs_);
    split->addWidget(chatColumn);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    split->setSizes({700, 500});

    return split;
}

void MainWindow::createModelHint(QWidget* parent) {
    modelHint_ = new QFrame(parent);
    modelHint_->setObjectName("modelHint");
    // The sentence on a line of its own and the choices in a row under it: beside three buttons the sentence had
    // been squeezed into a column one word wide.
    auto* hintLayout = new QVBoxLayout(modelHint_);
    auto* hintButtons = new QHBoxLayout;
    auto* hintText = new QLabel(tr("<b>No model is loaded.</b> Use the demo model that comes with the app, download "
                                   "Qwen3-VL from the Hugging Face Hub, or open a model folder or GGUF file."),
                                modelHint_);
    hintText->setWordWrap(true);
    auto* useDemo = new QPushButton(tr("Use the Demo Model"), modelHint_);
    useDemo->setObjectName("useDemoModel");
    double recommendedGb = 0;
    const QString recommended = HubDownloadPanel::recommendedRepository(&recommendedGb);
    auto* download = new QPushButton(tr("Download %1 (%2 GB)…").arg(recommended.section('/', 1), QString::number(recommendedGb, 'f', 1)),
                                     modelHint_);
    download->setObjectName("downloadRecommended");
    download->setToolTip(tr("The largest Qwen3-VL that fits this machine's memory, from the Hugging Face Hub"));
    auto* choose = new QPushButton(tr("Choose a Model…"), modelHint_);
    choose->setObjectName("chooseModel");
    hintLayout->addWidget(hintText);
    hintButtons->addWidget(useDemo);
    hintButtons->addWidget(download);
    hintButtons->addWidget(choose);
    hintButtons->addStretch(1);
    hintLayout->addLayout(hintButtons);
    connect(download, &QPushButton::clicked, this, [this, recommended] { modelManager()->offerDownload(recommended); });
    connect(useDemo, &QPushButton::clicked, this, [this] {
        if (const auto demo = bundledDemoModel(); !demo.isEmpty()) loadModel(demo);
    });
    connect(choose, &QPushButton::clicked, this, [this] {
        modelManager()->show();
        modelManager()->raise();
    });
}

void MainWindow::createStatusBar() {
    modelStatus_ = new QLabel(tr("No model loaded"), this);
    modelStatus_->setObjectName("modelStatus");
    loadProgress_ = new QProgressBar(this);
    loadProgress_->setRange(0, 1000);
    loadProgress_->setMaximumWidth(160);
    loadProgress_->setTextVisible(false);
    loadProgress_->setVisible(false);
    memory_ = new QLabel(this);
    memory_->setObjectName("memoryUse");
    statusBar()->addPermanentWidget(loadProgress_);
    statusBar()->addPermanentWidget(modelStatus_);
    statusBar()->addPermanentWidget(memory_);
    auto* memoryTimer = new QTimer(this);
    connect(memoryTimer, &QTimer::timeout, this, &MainWindow::updateMemory);
    memoryTimer->start(1000);
    updateMemory();
}

void MainWindow::connectWorkspaceAndChat() {
    connect(workspacePanel_, &WorkspacePanel::openFailed, this, [this](const QString& message) { showError(tr("Cannot open"), message); });
    connect(workspacePanel_, &WorkspacePanel::fileOpened, this, &MainWindow::rememberRecentFile);
    connect(workspacePanel_, &WorkspacePanel::renderDpiChanged, this, [this](int dpi) {
        chat_->setRenderDpi(dpi);
        QSettings().setValue(kRenderDpiKey, dpi);
    });
    connect(chat_, &ChatController::errorOccurred, this, [this](const QString& message) { showError(tr("Chat"), message); });
    connect(chat_, &ChatController::restoreProblems, this, [this](const QStringList& problems) {
        statusBar()->showMessage(tr("%1 could not be read and were left as they are")
                                     .arg(counted(problems.size(), tr("saved conversation"), tr("saved conversations"))),
                                 10000);
    });
    connect(chatPanel_->view(), &ChatView::groundingRequested, this, [this](int message, int item) {
        if (!showGrounding(message, item)) statusBar()->showMessage(tr("That answer's page is not open: open the document to see its boxes."), 6000);
    });
    // A finished answer that names boxes shows them on its page at once; another conversation clears them.
    connect(chat_, &ChatController::busyChanged, this, [this](bool busy) {
        if (busy) workspacePanel_->pageView()->setMarks({}, -1, {});  // the boxes of an answer being replaced
        else if (!chat_->current().messages.isEmpty()) showGrounding(static_cast<int>(chat_->current().messages.size()) - 1);
    });
    connect(chat_, &ChatController::messagesReset, this, [this] { workspacePanel_->pageView()->setMarks({}, -1, {}); });
    connect(comparePanel_, &ComparePanel::problem, this, &MainWindow::showError);
    connect(workspacePanel_->pageList()->selectionModel(), &QItemSelectionModel::currentChanged, this, &MainWindow::refreshSuggestions);
    connect(replayBar_, &ReplayBar::ended, this, [this] {
        chatPanel_->view()->showConversation(chat_->current(), chat_->canRegenerate());
        updateModelHint();
    });
    // What the ticked pages cost, before they are sent; Pick Pages for a long document.
    chatPanel_->setBudgetText([this](const QList<PageRef>& pages) { return budgetText(pages); });
    connect(inference_, &InferenceService::modelLoaded, chatPanel_, &ChatPanel::refreshBudget);
    connect(inference_, &InferenceService::modelUnloaded, chatPanel_, &ChatPanel::refreshBudget);
    connect(workspacePanel_, &WorkspacePanel::renderDpiChanged, chatPanel_, &ChatPanel::refreshBudget);
    connect(chat_, &ChatController::busyChanged, this, [this](bool busy) {
        const auto& messages = chat_->current().messages;
        const auto& model = inference_->model();
        if (!busy && model && !messages.isEmpty() && messages.back().role == ChatMessage::Role::assistant &&
            messages.back().tokensModel == model->folder && messages.back().state == ChatMessage::State::complete)
            rememberSpeed(*model, messages.back().timings);
        chatPanel_->refreshBudget();
    });
    connect(chat_, &ChatController::messagesReset, chatPanel_, &ChatPanel::refreshBudget);
    connect(chatPanel_, &ChatPanel::pickPagesRequested, this, &MainWindow::pickPages);
    connect(chatPanel_, &ChatPanel::budgetLinkActivated, this, [this](const QString& link) {
        if (link == "fit") fitToContext();
    });
    connect(chatPanel_, &ChatPanel::pageChoiceLinkActivated, this, &MainWindow::swapPickedPageIn);
    connect(chatPanel_->view(), &ChatView::pageRequested, this, [this](int message, int attachment) {
        const auto& messages = chat_->current().messages;
        if (message < 0 || message >= messages.size() || attachment < 0 || attachment >= messages[message].attachments.size()) return;
        const auto row = workspaceModel_->rowOf(messages[message].attachments[attachment]);
        if (row < 0) {
            statusBar()->showMessage(tr("That page's document is not open: open it to see the page."), 6000);
            return;
        }
        leftTabs_->setCurrentWidget(workspacePanel_);
        workspacePanel_->showRow(row);
    });
    // The comparison asks with the chat's sampling and at the chat's DPI, whatever they are when it asks.
    comparePanel_->setSettingsSource([this] { return chat_->current().sampling; }, [this] { return workspacePanel_->renderDpi(); });
}

void MainWindow::connectModelLoading() {
    connect(inference_, &InferenceService::loadStarted, this, [this](const QString& folder) {
        modelStatus_->setText(tr("Loading %1…").arg(QFileInfo(folder).fileName()));
        loadProgress_->setValue(0);
        loadProgress_->setVisible(true);
        modelHint_->setVisible(false);
    });
    connect(inference_, &InferenceService::loadProgress, this, [this](double f) { loadProgress_->setValue(static_cast<int>(f * 1000)); });
    connect(inference_, &InferenceService::modelLoaded, this, &MainWindow::onModelLoaded);
    connect(inference_, &InferenceService::generationFinished, this, [this](const GenerateResult& result) {
        if (result.conversationId != calibrationId_ || !calibratedModel_) return;
        calibrationId_.clear();
        modelStatus_->setText(modelStatus_->text().remove(tr(" · measuring its speed…")));
        if (result.stopReason == "cancelled") return;
        rememberSpeed(*calibratedModel_, result.timings);
        chatPanel_->refreshBudget();
        const auto rates = speedRates(*calibratedModel_);
        if (rates && statusBar()->currentMessage().isEmpty())
            statusBar()->showMessage(tr("Measured here: a page of 300 picture tokens ≈ %1 to the first word, then %2 tokens a second")
                                         .arg(describeDuration(rates->secondsToFirstWord(300, 64)))
                                         .arg(rates->decodeTokensPerSecond, 0, 'f', rates->decodeTokensPerSecond < 10 ? 1 : 0),
                                     8000);
    });
    connect(inference_, &InferenceService::generationFailed, this, [this](const QString& id, const QString& message) {
        if (id != calibrationId_) return;
        calibrationId_.clear();
        modelStatus_->setText(modelStatus_->text().remove(tr(" · measuring its speed…")));
        if (statusBar()->currentMessage().isEmpty()) statusBar()->showMessage(tr("This model's speed could not be measured: %1").arg(message), 8000);
    });
    connect(inference_, &InferenceService::modelLoadFailed, this, [this](const QString& message, bool cancelled) {
        loadProgress_->setVisible(false);
        modelStatus_->setText(tr("No model loaded"));
        updateModelHint();
        if (!cancelled) showError(tr("The model could not be loaded"), message);
    });
    connect(inference_, &InferenceService::modelUnloaded, this, [this] {
        modelStatus_->setText(tr("No model loaded"));
        updateModelHint();
        modelSuggestions_.clear();
        refreshSuggestions();
        attentionPanel_->showCapture({}, nullptr);
        attentionPanel_->clearPlan();
        stacksPanel_->showEffects({}, nullptr);
    });
}

void MainWindow::connectStacksAndAttention() {
    connect(stacksPanel_, &StacksPanel::measureRequested, this, &MainWindow::measureStacks);
    connect(stacksPanel_, &StacksPanel::problem, this, &MainWindow::showError);
    connect(inference_, &InferenceService::stacksProgress, this, [this](const QString&, const QString& step) {
        stacksPanel_->setMeasuring(true, step);
    });
    connect(inference_, &InferenceService::stacksMeasured, this, &MainWindow::showMeasuredStacks);
    connect(inference_, &InferenceService::stacksFailed, this, [this](const QString&, const QString& message) {
        stacksPanel_->setMeasuring(false, tr("Not measured."));
        showError(tr("Stacks"), message);
    });

    connect(chatPanel_->view(), &ChatView::attentionRequested, this, &MainWindow::recordAttention);
    connect(attentionPanel_, &AttentionPanel::recordRequested, this, &MainWindow::recordAttention);
    connect(attentionPanel_, &AttentionPanel::problem, this, &MainWindow::showError);
    connect(inference_, &InferenceService::attentionCaptured, this, [this](const QString& id, const AttentionCapturePtr& capture) {
        attentionPanel_->setRecording(false);
        attentionPanel_->showCapture(id, capture);
        // On stage the heatmap plays through the layers by itself, bottom to top, from the input.
        if (presenter_) {
            attentionPanel_->setLayer(capture->layers.front());
            attentionPanel_->play(true);
        }
        statusBar()->showMessage(tr("Attention recorded"), 4000);
    });
    connect(inference_, &InferenceService::attentionFailed, this, [this](const QString&, const QString& message) {
        attentionPanel_->setRecording(false, tr("Not recorded."));
        showError(tr("Attention"), message);
    });
    connect(leftTabs_, &QTabWidget::currentChanged, this, [this] {
        if (leftTabs_->currentWidget() == attentionPanel_) previewStackPlan();
    });
}

void MainWindow::restoreSettings(QSplitter* split) {
    QSettings settings;
    workspacePanel_->setRenderDpi(settings.value(kRenderDpiKey, 144).toInt());
    chat_->setRenderDpi(workspacePanel_->renderDpi());
    chat_->restore();
    updateModelHint();

    resize(1280, 820);
    restoreGeometry(settings.value(kGeometryKey).toByteArray());
    restoreState(settings.value(kStateKey).toByteArray());
    split->restoreState(settings.value(kSplitterKey).toByteArray());
}

void MainWindow::onModelLoaded(const LoadedModel& m) {
    loadProgress_->setVisible(false);
    QSettings().setValue(kLastModelKey, m.folder);  // it comes back at the next start
    updateModelHint();
    modelStatus_->setText(tr("%1 · %2 · %3 %4").arg(QFileInfo(m.folder).fileName(), m.displayName, m.device, m.compute));
    statusBar()->showMessage(tr("Model ready"), 4000);
    // A chat with nothing in it and settings never changed takes the model's own sampling defaults.
    if (chat_->current().messages.isEmpty() && chat_->current().sampling == SamplingOptions{}) chat_->setSampling(m.defaults);
    QString problem;
    auto suggestions = sampleQuestions(m.folder, &problem);
    // Qwen3-VL answers "where" with boxes, which the page then shows.
    if (m.family.startsWith("qwen3_vl")) suggestions << tr("Locate every heading and total on this page and output bbox coordinates in JSON.");
    modelSuggestions_ = suggestions;
    refreshSuggestions();
    if (!problem.isEmpty()) statusBar()->showMessage(problem, 10000);
    chatPanel_->focusQuestion();
    // The first time this model runs on this device with this precision: measure its speed now, so that the
    // time of the first question is known before it is sent. A serving engine's speed is its own.
    if (m.family != "remote" && !speedRates(m)) calibrateSpeed(m);
}

void MainWindow::showMeasuredStacks(const QString& conversationId, const StackEffectsPtr& effects) {
    stacksPanel_->setMeasuring(false);
    stacksPanel_->showEffects(conversationId, effects);
    // The stack map shows beside each group how much it moves the hidden state where it joins: the measured
    // picture's plan first, then the notes that belong to it.
    if (!effects->map.images.empty()) {
        const auto& measured = effects->map.images.front();
        attentionPanel_->showPlan(measured.plan, toQImage(measured.image));
    }
    QStringList notes;
    const auto groups = effects->map.images.empty() ? std::size_t{0} : effects->map.images.front().plan.groups.size();
    for (std::size_t g = 0; g < groups; ++g) {
        QString note;
        for (const auto& injection : effects->map.groups)
            if (injection.group == static_cast<int>(g) + 1) note = tr("adds %1 × |h|").arg(injection.mean_relative_change(), 0, 'f', 2);
        notes << note;
    }
    attentionPanel_->stackMap().setGroupNotes(notes);
    statusBar()->showMessage(tr("Stacks measured"), 4000);
}

void MainWindow::swapPickedPageIn(const QString& link) {
    if (!link.startsWith("page:") || lastPick_.path.isEmpty()) return;
    const int page = link.mid(5).toInt();
    workspaceModel_->setAttached({lastPick_.path, page}, true);
    auto ticked = workspaceModel_->attachedPages();
    qint64 total = 0;
    for (const auto& p : ticked) total += std::max<qint64>(0, pageTokens(p));
    const auto room = contextLeft() - 64 - chat_->current().sampling.maxTokens;
    for (auto it = lastPick_.ranked.crbegin(); it != lastPick_.ranked.crend() && total > room; ++it) {
        const PageRef candidate{lastPick_.path, *it};
        if (*it == page || !ticked.contains(candidate)) continue;
        workspaceModel_->setAttached(candidate, false);
        total -= std::max<qint64>(0, pageTokens(candidate));
    }
    showPagePick();
}

void MainWindow::showAttentionTab() { leftTabs_->setCurrentWidget(attentionPanel_); }

void MainWindow::recordAttention() {
    showAttentionTab();
    if (!inference_->model()) {
        showError(tr("Attention"), tr("No model is loaded. Choose one in Model › Models…"));
        return;
    }
    if (inference_->isGenerating() || inference_->isLoading() || inference_->isCapturing()) {
        const auto busy = tr("The model is busy: press Record Latest Answer once the answer is finished.");
        attentionPanel_->setRecording(false, busy);
        statusBar()->showMessage(busy, 5000);
        return;
    }
    const auto& conversation = chat_->current();
    if (conversation.messages.isEmpty() || conversation.messages.back().role != ChatMessage::Role::assistant) {
        showError(tr("Attention"), tr("Ask a question about a page first: attention is recorded for the latest answer."));
        return;
    }
    AttentionRequest request;
    request.memory_cap_bytes = attentionPanel_->memoryCapBytes();
    attentionPanel_->setRecording(true, tr("Recording: running the latest question and answer once more…"));
    inference_->captureAttention(conversation.id, request);
}

bool MainWindow::showGrounding(int message, int item) {
    const auto& messages = chat_->current().messages;
    if (message < 1 || message >= messages.size() || messages[message].role != ChatMessage::Role::assistant) return false;
    const auto items = parse_grounding(messages[message].text.toStdString());
    // The boxes belong to the question's pages; with several, Qwen3-VL's answer does not say which: the first.
    const auto& question = messages[message - 1];
    if (items.empty() || question.attachments.isEmpty()) return false;
    const auto page = question.attachments.front();
    const auto row = workspaceModel_->rowOf(page);
    if (row < 0) return false;
    QList<PageMark> marks;
    for (const auto& it : items) {
        const auto r = it.region();
        marks.append({QRectF(QPointF(r.left, r.top), QPointF(r.right, r.bottom)), QString::fromStdString(it.label)});
    }
    leftTabs_->setCurrentWidget(workspacePanel_);
    workspacePanel_->showRow(row);
    auto* view = workspacePanel_->pageView();
    view->setMarks(page.path, page.page, marks);
    if (item >= 0) view->highlightMark(item);
    return true;
}

qint64 MainWindow::pageTokens(const PageRef& page, int dpi) const {
    const auto& model = inference_->model();
    const auto* document = workspaceModel_->document(page.path);
    if (!model || document == nullptr) return -1;
    const auto size = document->renderSize(page.page, dpi > 0 ? dpi : workspacePanel_->renderDpi());
    if (size.isEmpty()) return -1;
    try {  // the family's own preprocessing decides: Qwen3-VL's pixel budget, DeepStack's fixed views
        return stack_plan(model->folder.toStdString(), size.width(), size.height(), 0, model->maxImagePixels).input_tokens();
    } catch (const std::exception&) {
        return -1;  // a serving engine's model, a GGUF file: only the server or the load knows
    }
}

qint64 MainWindow::contextLeft() const {
    const auto& model = inference_->model();
    if (!model) return 0;
    qint64 used = 0;
    for (const auto& m : chat_->current().messages) used += m.timings.promptTokens + m.timings.generatedTokens;
    return std::max<qint64>(0, model->contextTokens - used);
}

QString MainWindow::budgetText(const QList<PageRef>& pages) const {
    const auto& model = inference_->model();
    if (!model || pages.isEmpty()) return {};
    qint64 total = 0;
    QStringList each;
    for (const auto& page : pages) {
        const auto tokens = pageTokens(page);
        if (tokens < 0) return tr("<span style='color:#777'>The image tokens are decided by the model's server.</span>");
        total += tokens;
        each << QString::number(tokens);
    }
    const auto left = contextLeft();
    // About the question's words, the template and the answer's room.
    const auto needed = total + 64 + chat_->current().sampling.maxTokens;
    QString text = pages.size() > 1 ? tr("%1 image tokens (%2)").arg(total).arg(each.join(" + ")) : tr("%1 image tokens").arg(total);
    if (needed > left)
        return tr("<span style='color:#b00020'>%1 and the answer's %2 do not fit the %3 tokens left of the %4-token context: "
                  "untick pages, lower the DPI (<a href='fit'>fit to the context</a>), or start a new chat.</span>")
            .arg(text)
            .arg(chat_->current().sampling.maxTokens)
            .arg(left)
            .arg(model->contextTokens);
    text = tr("%1 of the %2 tokens left in the context").arg(text).arg(left);
    // The time, at the rates this model last ran at on this device (kept across sessions, see speedRates).
    if (const auto rates = speedRates(*model)) {
        const auto& recent = inference_->recentPictures();
        const bool kept = !recent.isEmpty() && recent == picturesKey(pages, workspacePanel_->renderDpi());
        const auto seconds = rates->secondsToFirstWord(total, 64, kept);
        text += tr(" · ≈ %1 to the first word").arg(describeDuration(seconds));
        if (kept) text += tr(" (the model has just read these pages: no vision pass)");
        if (rates->decodeTokensPerSecond > 0)
            text += tr(", then %1 tokens a second").arg(rates->decodeTokensPerSecond, 0, 'f', rates->decodeTokensPerSecond < 10 ? 1 : 0);
    }
    return "<span style='color:#555'>" + text + "</span>";
}

bool MainWindow::fitToContext() {
    const auto pages = workspaceModel_->attachedPages();
    const auto room = contextLeft() - 64 - chat_->current().sampling.maxTokens;
    for (const int dpi : {300, 200, 144, 100, 72}) {  // the DPI menu's choices, sharpest first
        qint64 total = 0;
        for (const auto& page : pages) total += std::max<qint64>(0, pageTokens(page, dpi));
        if (total <= room) {
            workspacePanel_->setRenderDpi(dpi);
            statusBar()->showMessage(tr("Pages for the model at %1 DPI: %2 image tokens fit the %3 left").arg(dpi).arg(total).arg(room), 6000);
            return true;
        }
    }
    showError(tr("The pages do not fit"),
              tr("Even at 72 DPI the %1 need more than the %2 tokens the context has left for them: untick pages, "
                 "lower the answer's token limit, or start a new chat.")
                  .arg(counted(pages.size(), tr("ticked page"), tr("ticked pages")))
                  .arg(std::max<qint64>(0, room)));
    return false;
}

void MainWindow::pickPages(const QString& question) {
    if (question.trimmed().isEmpty()) {
        showError(tr("Pick Pages"), tr("Type the question first: the pages are picked for it."));
        return;
    }
    const auto current = workspaceModel_->pageAt(workspacePanel_->pageList()->currentIndex().row());
    const auto* document = workspaceModel_->document(current.path);
    if (document == nullptr) {
        showError(tr("Pick Pages"), tr("Open a document first: the pages of the document on screen are picked."));
        return;
    }
    std::vector<std::string> texts;
    for (int p = 0; p < document->pageCount(); ++p) texts.push_back(document->pageText(p).toStdString());
    const auto ranked = rank_pages(texts, question.toStdString());
    lastPick_ = {current.path, question, {}, {}};
    std::vector<RankedPage> matching;
    for (const auto& page : ranked) {
        lastPick_.ranked.append(page.page);
        if (!page.has_text) lastPick_.withoutText.append(page.page);
        if (page.score > 0) matching.push_back(page);
    }
    std::vector<std::int64_t> costs;
    for (int p = 0; p < document->pageCount(); ++p) costs.push_back(std::max<qint64>(0, pageTokens({current.path, p})));
    const auto room = contextLeft() - 64 - chat_->current().sampling.maxTokens;
    constexpr int kMostPages = 4;  // each page is hundreds to thousands of tokens: seconds to minutes on a CPU
    const auto choice = choose_pages(matching, costs, room, kMostPages);
    for (int p = 0; p < document->pageCount(); ++p)
        workspaceModel_->setAttached({current.path, p}, std::find(choice.chosen.begin(), choice.chosen.end(), p) != choice.chosen.end());
    if (choice.chosen.empty()) statusBar()->showMessage(tr("No page's text holds a word of the question: tick pages yourself."), 8000);
    for (const auto& page : matching)  // the best page picked, on screen
        if (std::find(choice.chosen.begin(), choice.chosen.end(), page.page) != choice.chosen.end()) {
            workspacePanel_->showRow(workspaceModel_->rowOf({current.path, page.page}));
            break;
        }
    showPagePick();
}

void MainWindow::showPagePick() {
    if (lastPick_.path.isEmpty()) {
        chatPanel_->setPageChoice({});
        return;
    }
    const auto* document = workspaceModel_->document(lastPick_.path);
    if (document == nullptr) {
        chatPanel_->setPageChoice({});
        return;
    }
    std::vector<std::string> texts;
    for (int p = 0; p < document->pageCount(); ++p) texts.push_back(document->pageText(p).toStdString());
    const auto ranked = rank_pages(texts, lastPick_.question.toStdString());
    QStringList picked, left;
    for (const auto& page : ranked) {
        if (!page.has_text) continue;
        const bool ticked = workspaceModel_->attachedPages().contains(PageRef{lastPick_.path, page.page});
        QStringList words;
        for (const auto& w : page.matched) words << QString::fromStdString(w).toHtmlEscaped();
        if (ticked) picked << tr("<b>p. %1</b>%2").arg(page.page + 1).arg(words.isEmpty() ? QString() : " (" + words.join(", ") + ")");
        else if (page.score > 0) left << QString("<a href='page:%1'>p. %2</a>").arg(page.page).arg(page.page + 1);
    }
    QStringList scans;
    for (const auto p : lastPick_.withoutText) scans << tr("p. %1").arg(p + 1);
    auto html = tr("Picked for this question: %1.").arg(picked.isEmpty() ? tr("none") : picked.join(", "));
    if (!left.isEmpty()) html += tr(" Also matching, best first (click to swap in): %1.").arg(left.mid(0, 12).join(" · "));
    if (!scans.isEmpty())
        html += tr(" <span style='color:#777'>Without a text layer (scans), so ranked last: %1.</span>").arg(scans.mid(0, 12).join(", ") +
                                                                                                     (scans.size() > 12 ? tr(" and %1 more").arg(scans.size() - 12) : QString()));
    chatPanel_->setPageChoice(html);
}

bool MainWindow::exportAnswerReport(const QString& file, QString* error) {
    const auto* capture = attentionPanel_->capture();
    const auto& messages = chat_->current().messages;
    if (capture == nullptr || attentionPanel_->conversationId() != chat_->current().id || messages.size() < 2) {
        if (error != nullptr) *error = tr("Record the attention of the latest answer first (its Attention link).");
        return false;
    }
    const auto& question = messages[messages.size() - 2];
    const auto& answer = messages.back();
    const auto& model = inference_->model();
    const auto& s = chat_->current().sampling;
    const auto& t = answer.timings;
    AnswerReportContent content;
    content.modelLine = tr("%1 · %2 · %3 %4 · context %5 · temperature %6, top-p %7, top-k %8, max %9 tokens, seed %10 · %11")
                            .arg(model ? QFileInfo(model->folder).fileName() : tr("(the model is no longer loaded)"),
                                 model ? model->displayName : QString(), model ? model->device : QString(),
                                 model ? model->compute : QString())
                            .arg(model ? model->contextTokens : 0)
                            .arg(s.temperature)
                            .arg(s.topP)
                            .arg(s.topK)
                            .arg(s.maxTokens)
                            .arg(s.seed)
                            .arg(QDateTime::currentDateTime().toString("yyyy-MM-dd hh:mm"));
    content.question = question.text;
    content.answer = answer.text;
    content.timingsLine = tr("%1 tokens · first token %2 ms (%3, prefill %4) · %5 tokens/s · %6 image tokens · %7")
                              .arg(t.generatedTokens)
                              .arg(t.timeToFirstTokenMs, 0, 'f', 0)
                              .arg(visionTimeText(t))
                              .arg(t.prefillMs, 0, 'f', 0)
                              .arg(t.decodeTokensPerSecond, 0, 'f', 1)
                              .arg(t.imageTokens)
                              .arg(answer.stopReason);
    content.attentionTitle = tr("Attention of the chosen tokens at layer %1 (heads: %2); %3, %4")
                                 .arg(attentionPanel_->layer())
                                 .arg(attentionPanel_->headsText(), QString::fromStdString(capture->variant))
                                 .arg(counted(static_cast<qsizetype>(capture->layers.size()), tr("recorded layer"), tr("recorded layers")));
    content.view = attentionPanel_->viewImage();
    content.stackMap = attentionPanel_->stackMapImage();
    return writeAnswerReport(content, file, error);
}

bool MainWindow::exportPageWithBoxes(const QString& file, QString* error) {
    const auto image = workspacePanel_->pageView()->pageWithMarks(workspacePanel_->renderDpi());
    if (image.isNull()) {
        if (error != nullptr) *error = tr("There is no page on screen to export.");
        return false;
    }
    QSaveFile out(file);
    if (!out.open(QIODevice::WriteOnly) || !image.save(&out, "PNG") || !out.commit()) {
        if (error != nullptr) *error = tr("%1 could not be written: %2").arg(file, out.errorString());
        return false;
    }
    return true;
}

std::optional<SpeedRates> MainWindow::speedRates(const LoadedModel& model) { return keptSpeed(model.folder, model.device, model.compute); }

void MainWindow::rememberSpeed(const LoadedModel& model, const MessageTimings& timings) {
    ui::rememberSpeed(model.folder, model.device, model.compute, timings);
}

void MainWindow::calibrateSpeed(const LoadedModel& model) {
    // Asked twice: a model's first pass also sets up its kernels and buffers (measured: several times slower on
    // the tiny test model), which no later question pays. The second is the one kept.
    GenerateRequest request;
    const double dpi = workspacePanel_->renderDpi();
    request.question = {tr("Describe this page in one line."), {speedProbePage(dpi)}};
    request.sampling.maxTokens = 8;
    request.conversationId = "calibration-warm-up:" + QUuid::createUuid().toString(QUuid::WithoutBraces);
    inference_->generate(request);
    // Not the same picture, or the model would reuse the first one's vision pass and the rate would measure nothing.
    request.question = {tr("Describe this page in one line."), {speedProbePage(dpi, true)}};
    request.conversationId = calibrationId_ = "calibration:" + QUuid::createUuid().toString(QUuid::WithoutBraces);
    calibratedModel_ = model;
    // Said beside the model's name, not in the status line, where a problem with the folder may be showing.
    modelStatus_->setText(modelStatus_->text() + tr(" · measuring its speed…"));
    inference_->generate(request);
}

QStringList MainWindow::preparedQuestions(const QString& path) {
    const auto key = QCryptographicHash::hash(QFileInfo(path).absoluteFilePath().toUtf8(), QCryptographicHash::Sha1).toHex();
    return QSettings().value("preparedQuestions/" + key).toStringList();
}

void MainWindow::setPreparedQuestions(const QString& path, const QStringList& questions) {
    const auto key = QCryptographicHash::hash(QFileInfo(path).absoluteFilePath().toUtf8(), QCryptographicHash::Sha1).toHex();
    QStringList kept;
    for (const auto& q : questions)
        if (!q.trimmed().isEmpty()) kept << q.trimmed();
    if (kept.isEmpty()) QSettings().remove("preparedQuestions/" + key);
    else QSettings().setValue("preparedQuestions/" + key, kept);
}

void MainWindow::refreshSuggestions() {
    const auto current = workspaceModel_->pageAt(workspacePanel_->pageList()->currentIndex().row());
    auto questions = current.path.isEmpty() ? QStringList() : preparedQuestions(current.path);
    for (const auto& q : modelSuggestions_)
        if (!questions.contains(q)) questions << q;
    chatPanel_->setSuggestions(questions);
}

void MainWindow::setPresenterMode(bool on) {
    if (on == presenter_) return;
    presenter_ = on;
    if (on) {
        normalFont_ = font();
        auto large = normalFont_;
        large.setPointSizeF(normalFont_.pointSizeF() * 1.5);
        setFont(large);
    } else {
        setFont(normalFont_);
    }
    workspacePanel_->pageList()->setVisible(!on);
    if (auto* action = findChild<QAction*>("actionPresenter"); action != nullptr && action->isChecked() != on) action->setChecked(on);
    statusBar()->showMessage(on ? tr("Presenter mode: F5 leaves it") : QString(), 4000);
}

void MainWindow::startRecording() {
    const auto& model = inference_->model();
    recorder_->start(model ? tr("%1 · %2 · %3 %4").arg(QFileInfo(model->folder).fileName(), model->displayName, model->device, model->compute)
                           : tr("no model"));
    if (recordAction_ != nullptr) recordAction_->setText(tr("Stop &Recording…"));
    statusBar()->showMessage(tr("Recording: every question, answer and attention view from now on"), 5000);
}

bool MainWindow::isRecording() const { return recorder_->isRecording(); }

bool MainWindow::stopRecording(const QString& file, QString* error) {
    const auto recording = recorder_->stop();
    if (recordAction_ != nullptr) recordAction_->setText(tr("Start &Recording a Demo"));
    return saveRecording(recording, file, error);
}

bool MainWindow::openRecording(const QString& file, QString* error) {
    auto recording = loadRecording(file, error);
    if (!recording) return false;
    if (!replayBar_->play(std::move(*recording), error)) return false;
    modelHint_->setVisible(false);  // a recording needs no model
    if (workspaceModel_->rowCount() > 0) workspacePanel_->showRow(0);
    return true;
}

void MainWindow::measureStacks() {
    leftTabs_->setCurrentWidget(stacksPanel_);
    if (!inference_->model()) {
        showError(tr("Stacks"), tr("No model is loaded. Choose one in Model › Models…"));
        return;
    }
    if (inference_->isBusy()) {
        const auto busy = tr("The model is busy: press Measure the Stacks once the answer is finished.");
        stacksPanel_->setMeasuring(false, busy);
        statusBar()->showMessage(busy, 5000);
        return;
    }
    const auto& conversation = chat_->current();
    if (conversation.messages.isEmpty() || conversation.messages.back().role != ChatMessage::Role::assistant) {
        showError(tr("Stacks"), tr("Ask a question about a page first: the stacks are measured on the latest answer."));
        return;
    }
    stacksPanel_->setMeasuring(true, tr("Running the latest question again without each stacked group…"));
    inference_->measureStacks(conversation.id, conversation.sampling);
}

// Before anything is recorded, the stack map shows the loaded model's plan for the page on screen: its size as
// the model would get it and its cached thumbnail, so nothing is rendered on the GUI thread for this.
void MainWindow::previewStackPlan() {
    const auto& model = inference_->model();
    if (!model) return;
    const auto current = workspacePanel_->pageList()->currentIndex();
    const auto row = current.isValid() ? current.row() : (workspaceModel_->rowCount() > 0 ? 0 : -1);
    if (row < 0) return;
    const auto page = workspaceModel_->pageAt(row);
    const auto* document = workspaceModel_->document(page.path);
    if (document == nullptr) return;
    const auto size = document->renderSize(page.page, workspacePanel_->renderDpi());
    if (size.isEmpty()) return;
    const auto thumbnail = workspaceModel_->data(workspaceModel_->index(row, 0), Qt::DecorationRole).value<QPixmap>().toImage();
    try {
        attentionPanel_->showPlan(stack_plan(model->folder.toStdString(), size.width(), size.height()), thumbnail);
    } catch (const std::exception& e) {
        statusBar()->showMessage(QString::fromUtf8(e.what()), 8000);
    }
}

void MainWindow::createMenus() {
    auto* file = menuBar()->addMenu(tr("&File"));
    auto* open = file->addAction(tr("&Open…"), this, &MainWindow::chooseFilesToOpen);
    open->setShortcut(QKeySequence::Open);
    open->setObjectName("actionOpen");
    recentMenu_ = file->addMenu(tr("Open &Recent"));
    auto* closeDocument = file->addAction(tr("&Close Document"), this, [this] { workspacePanel_->closeCurrentDocument(); });
    recordAction_ = file->addAction(tr("Start &Recording a Demo"), this, [this] {
        if (!recorder_->isRecording()) {
            startRecording();
            return;
        }
        const auto target = QFileDialog::getSaveFileName(this, tr("Save the Recording"), "demo.dsrec", tr("DeepStack Studio recordings (*.dsrec)"));
        QString error;
        if (target.isEmpty()) return;  // still recording
        if (!stopRecording(target, &error)) showError(tr("Recording"), error);
    });
    recordAction_->setObjectName("actionRecord");
    auto* openRecordingAction = file->addAction(tr("Open Recor&ding…"), this, [this] {
        const auto target = QFileDialog::getOpenFileName(this, tr("Open a Recording"), {}, tr("DeepStack Studio recordings (*.dsrec);;All files (*)"));
        QString error;
        if (!target.isEmpty() && !openRecording(target, &error)) showError(tr("Recording"), error);
    });
    openRecordingAction->setObjectName("actionOpenRecording");
    auto* exportBoxes = file->addAction(tr("&Export Page with Boxes…"), this, [this] {
        const auto target = QFileDialog::getSaveFileName(this, tr("Export the Page with Its Boxes"), "page-with-boxes.png", tr("PNG image (*.png)"));
        if (target.isEmpty()) return;
        QString error;
        if (!exportPageWithBoxes(target, &error)) showError(tr("Export"), error);
    });
    exportBoxes->setObjectName("actionExportPageWithBoxes");
    closeDocument->setShortcut(QKeySequence::Close);
    file->addSeparator();
    auto* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);
    quit->setObjectName("actionQuit");
    refreshRecentFiles();

    auto* chat = menuBar()->addMenu(tr("&Chat"));
    auto* newChat = chat->addAction(tr("&New Chat"), chat_, &ChatController::newConversation);
    newChat->setShortcut(QKeySequence::New);
    auto* send = chat->addAction(tr("&Send"), chatPanel_, &ChatPanel::sendQuestion);
    send->setShortcuts({QKeySequence(Qt::CTRL | Qt::Key_Return), QKeySequence(Qt::CTRL | Qt::Key_Enter)});
    send->setObjectName("actionSend");
    auto* stop = chat->addAction(tr("S&top"), chat_, &ChatController::stop);
    stop->setShortcut(Qt::Key_Escape);
    stop->setObjectName("actionStop");
    chat->addSeparator();
    auto* prepared = chat->addAction(tr("&Prepared Questions for This Document…"), this, [this] {
        const auto current = workspaceModel_->pageAt(workspacePanel_->pageList()->currentIndex().row());
        if (current.path.isEmpty()) {
            showError(tr("Prepared Questions"), tr("Open a document first: questions are prepared for the document on screen."));
            return;
        }
        bool ok = false;
        const auto text = QInputDialog::getMultiLineText(this, tr("Prepared Questions"),
                                                         tr("Questions for %1, one per line (offered under the question box while it is on screen):")
                                                             .arg(QFileInfo(current.path).fileName()),
                                                         preparedQuestions(current.path).join("\n"), &ok);
        if (!ok) return;
        setPreparedQuestions(current.path, text.split('\n'));
        refreshSuggestions();
    });
    prepared->setObjectName("actionPreparedQuestions");
    auto* exportMd = chat->addAction(tr("Export as &Markdown…"), this, [this] {
        const auto target = QFileDialog::getSaveFileName(this, tr("Export the Conversation as Markdown"), chat_->current().title + ".md", tr("Markdown (*.md)"));
        QString error;
        if (!target.isEmpty() && !exportMarkdown(chat_->current(), *workspaceModel_, target, &error)) showError(tr("Export"), error);
    });
    exportMd->setObjectName("actionExportMarkdown");
    auto* exportJs = chat->addAction(tr("Export as &JSON…"), this, [this] {
        const auto target = QFileDialog::getSaveFileName(this, tr("Export the Conversation as JSON"), chat_->current().title + ".json", tr("JSON (*.json)"));
        QString error;
        if (!target.isEmpty() && !exportJson(chat_->current(), target, &error)) showError(tr("Export"), error);
    });
    exportJs->setObjectName("actionExportJson");
    auto* import = chat->addAction(tr("&Import Conversation…"), this, [this] {
        const auto target = QFileDialog::getOpenFileName(this, tr("Import a Conversation"), {}, tr("JSON (*.json)"));
        QString error;
        if (!target.isEmpty() && !chat_->importConversation(target, &error)) showError(tr("Import"), error);
    });
    import->setObjectName("actionImportConversation");
    chat->addSeparator();
    auto* regenerate = chat->addAction(tr("&Regenerate"), chat_, &ChatController::regenerate);
    regenerate->setShortcut(Qt::CTRL | Qt::Key_R);
    auto* find = chat->addAction(tr("&Find in Chat…"), chatPanel_, &ChatPanel::showFind);
    find->setShortcut(QKeySequence::Find);
    find->setObjectName("actionFind");

    auto* model = menuBar()->addMenu(tr("&Model"));
    auto* manage = model->addAction(tr("&Models…"), this, [this] {
        modelManager()->show();
        modelManager()->raise();
    });
    manage->setShortcut(Qt::CTRL | Qt::Key_M);
    manage->setObjectName("actionModels");
    model->addAction(tr("&Unload"), inference_, &InferenceService::unloadModel);
    model->addSeparator();
    auto* inspect = model->addAction(tr("&Inspect Model Folder…"), this, &MainWindow::chooseModelFolderToInspect);
    inspect->setObjectName("actionInspectModelFolder");

    auto* view = menuBar()->addMenu(tr("&View"));
    auto* pages = view->addAction(tr("&Pages"), this, [this] { leftTabs_->setCurrentWidget(workspacePanel_); });
    pages->setShortcut(Qt::CTRL | Qt::SHIFT | Qt::Key_P);
    auto* attention = view->addAction(tr("&Attention of the Latest Answer"), this, &MainWindow::recordAttention);
    attention->setShortcut(Qt::CTRL | Qt::SHIFT | Qt::Key_A);
    attention->setObjectName("actionAttention");
    auto* presenter = view->addAction(tr("P&resenter Mode"), this, [this](bool on) { setPresenterMode(on); });
    presenter->setCheckable(true);
    presenter->setShortcut(Qt::Key_F5);
    presenter->setObjectName("actionPresenter");
    auto* report = view->addAction(tr("Export Answer &Report…"), this, [this] {
        const auto target = QFileDialog::getSaveFileName(this, tr("Export the Answer with Its Attention"), "answer-report.pdf",
                                                         tr("PDF (*.pdf);;PNG image (*.png)"));
        QString error;
        if (!target.isEmpty() && !exportAnswerReport(target, &error)) showError(tr("Report"), error);
    });
    report->setObjectName("actionExportReport");
    auto* stacks = view->addAction(tr("What the Stac&ks Change"), this, &MainWindow::measureStacks);
    stacks->setShortcut(Qt::CTRL | Qt::SHIFT | Qt::Key_K);
    stacks->setObjectName("actionMeasureStacks");
    view->addAction(tr("&Stack Map"), this, [this] {
        showAttentionTab();
        previewStackPlan();
    });

    auto* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About DeepStack Studio"), this, &MainWindow::showAbout);
    help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
}

ModelManagerDialog* MainWindow::modelManager() {
    if (!modelManager_) modelManager_ = new ModelManagerDialog(*inference_, this);
    return modelManager_;
}

void MainWindow::openFiles(const QStringList& paths, bool tickFirstPage) {
    const bool noneTicked = workspaceModel_->attachedPages().isEmpty();
    if (workspacePanel_->openFiles(paths) == 0 || !tickFirstPage || !noneTicked) return;
    const auto row = workspacePanel_->pageList()->currentIndex().row();
    if (row >= 0) workspaceModel_->setAttached(workspaceModel_->pageAt(row), true);
}

QString MainWindow::bundledDemoModel() {
    const QStringList candidates{QCoreApplication::applicationDirPath() + "/../share/deepstack-studio/models/demo/latest",
                                 QStringLiteral(DEEPSTACK_SOURCE_DIR "/models/demo/latest")};
    for (const auto& folder : candidates)
        if (QFileInfo::exists(folder + "/config.json")) return QFileInfo(folder).canonicalFilePath();
    return {};
}

bool MainWindow::loadStartModel() {
    const auto last = QSettings().value(kLastModelKey).toString();
    if (!last.isEmpty() && QFileInfo::exists(last)) {
        loadModel(last);
        return true;
    }
    if (const auto demo = bundledDemoModel(); !demo.isEmpty()) {
        loadModel(demo);
        return true;
    }
    return false;
}

void MainWindow::updateModelHint() {
    const bool none = !inference_->model().has_value() && !inference_->isLoading();
    modelHint_->setVisible(none);
    if (auto* demo = modelHint_->findChild<QPushButton*>("useDemoModel")) demo->setVisible(!bundledDemoModel().isEmpty());
}

void MainWindow::loadModel(const QString& folder) {
    ModelManagerDialog::rememberModelFolder(folder);
    auto* manager = modelManager();
    manager->selectFolder(folder);
    manager->loadSelected();
}

void MainWindow::chooseFilesToOpen() {
    QSettings settings;
    const auto files = QFileDialog::getOpenFileNames(this, tr("Open documents or pictures"), settings.value(kLastOpenFolderKey).toString(),
                                                     WorkspaceDocument::fileFilter());
    if (files.isEmpty()) return;
    settings.setValue(kLastOpenFolderKey, QFileInfo(files.front()).absolutePath());
    openFiles(files);
}

void MainWindow::rememberRecentFile(const QString& path) {
    QSettings settings;
    auto recent = settings.value(kRecentKey).toStringList();
    recent.removeAll(path);
    recent.prepend(path);
    while (recent.size() > kRecentFiles) recent.removeLast();
    settings.setValue(kRecentKey, recent);
    refreshRecentFiles();
}

void MainWindow::refreshRecentFiles() {
    recentMenu_->clear();
    const auto recent = QSettings().value(kRecentKey).toStringList();
    for (const auto& path : recent) recentMenu_->addAction(QFileInfo(path).fileName(), this, [this, path] { openFiles({path}); })->setToolTip(path);
    recentMenu_->setEnabled(!recent.isEmpty());
}

void MainWindow::chooseModelFolderToInspect() {
    QSettings settings;
    const auto folder = QFileDialog::getExistingDirectory(this, tr("Model folder"), settings.value(kLastModelFolderKey).toString());
    if (folder.isEmpty()) return;
    settings.setValue(kLastModelFolderKey, folder);
    inspectModelFolder(folder);
}

void MainWindow::inspectModelFolder(const QString& folder) {
    statusBar()->showMessage(tr("Inspecting %1…").arg(folder));
    auto* watcher = new QFutureWatcher<InspectReport>(this);
    connect(watcher, &QFutureWatcher<InspectReport>::finished, this, [this, watcher] {
        watcher->deleteLater();
        const auto report = watcher->result();
        statusBar()->showMessage(report.ok() ? tr("Inspected %1").arg(QString::fromStdString(report.folder.string()))
                                             : tr("%1 in %2")
                                                   .arg(counted(static_cast<qsizetype>(report.problems.size()), tr("problem"), tr("problems")),
                                                        QString::fromStdString(report.folder.string())),
                                 5000);
        auto* dialog = new ModelReportDialog(report, this);
        dialog->setAttribute(Qt::WA_DeleteOnClose);
        dialog->setObjectName("modelReportDialog");
        dialog->show();
    });
    // Reading tokenizer files and shard headers of a large folder takes long enough to freeze the window.
    const auto path = folder.toStdString();
    watcher->setFuture(QtConcurrent::run([path] { return inspect_model(path); }));
}

void MainWindow::showError(const QString& title, const QString& message) {
    statusBar()->showMessage(message.section('\n', 0, 0), 8000);
    // Not modal: the window stays usable, an answer keeps streaming behind it.
    auto* box = new QMessageBox(QMessageBox::Warning, title, message, QMessageBox::Ok, this);
    box->setObjectName("errorMessage");
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->setModal(false);
    box->show();
}

void MainWindow::updateMemory() {
    const auto rss = resident_memory_bytes();
    const auto available = available_memory_bytes();
    memory_->setText(rss > 0 ? tr("Memory %1 (%2 free)").arg(QString::fromStdString(human_bytes(rss)), QString::fromStdString(human_bytes(available))) : QString());
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    for (const auto& url : event->mimeData()->urls())
        if (url.isLocalFile() && WorkspaceDocument::isSupportedFile(url.toLocalFile())) {
            event->acceptProposedAction();
            return;
        }
}

void MainWindow::dropEvent(QDropEvent* event) {
    QStringList paths;
    for (const auto& url : event->mimeData()->urls())
        if (url.isLocalFile()) paths << url.toLocalFile();
    openFiles(paths);
    event->acceptProposedAction();
}

void MainWindow::showAbout() {
    QMessageBox::about(this, tr("About DeepStack Studio"),
                       tr("<h3>DeepStack Studio %1</h3>"
                          "<p>Runs DeepStack vision-language models (Qwen3-VL, DeepStack-L) on your own machine, "
                          "offline.</p><p>DeepStack: Meng et al., NeurIPS 2024, arXiv 2406.04334.</p>"
                          "<p><b>This machine</b><br>%2<br>%3<br>%4</p>")
                           .arg(QApplication::applicationVersion(),
                                QString::fromStdString(deepstack::describe_cpu_and_blas()).toHtmlEscaped(),
                                QString::fromStdString(deepstack::libtorch_description()).toHtmlEscaped(),
                                QString::fromStdString(deepstack::quantized_kernels_description()).toHtmlEscaped()));
}

void MainWindow::closeEvent(QCloseEvent* event) {
    chat_->stop();  // the answer so far is saved; the inference thread joins when the service goes
    QSettings settings;
    settings.setValue(kGeometryKey, saveGeometry());
    settings.setValue(kStateKey, saveState());
    if (auto* split = findChild<QSplitter*>("mainSplitter")) settings.setValue(kSplitterKey, split->saveState());
    event->accept();
}

}  // namespace deepstack::ui

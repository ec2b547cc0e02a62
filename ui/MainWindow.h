// The application window: the workspace (documents and photos) on the left, the chat on the right, models in
// their own dialog, inference on its own thread. Owns them all; closing it stops any answer and saves.
#pragma once

#include <QFont>
#include <QMainWindow>

#include <optional>

#include "chat/ChatTypes.h"
#include "inference/InferenceTypes.h"
#include "inference/SpeedRecords.h"

class QLabel;
class QMenu;
class QProgressBar;
class QSplitter;
class QTabWidget;

namespace deepstack::ui {

class AttentionPanel;
class StacksPanel;
class ComparePanel;
class DemoRecorder;
class ReplayBar;
class ChatController;
class ChatPanel;
class InferenceService;
class ModelManagerDialog;
class WorkspaceModel;
class WorkspacePanel;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    // Opens documents and pictures in the workspace; problems are shown, the rest opens. With `tickFirstPage`
    // (files given on the command line) the first page opened goes with the next question when none is ticked,
    // so the window starts ready for a question.
    void openFiles(const QStringList& paths, bool tickFirstPage = false);
    // Adds the folder to the known models and loads it with the saved device and precision.
    void loadModel(const QString& folder);
    // At start without --model: the model loaded last time, else the bundled demo model; false when there is
    // neither (the window then says how to get one).
    bool loadStartModel();
    // The demo model shipped with the app (models/demo/latest in the source tree, share/deepstack-studio/models/demo
    // when installed), or empty.
    static QString bundledDemoModel();
    // Shows the inspect report of a model folder (the work runs on a pool thread).
    void inspectModelFolder(const QString& folder);
    ModelManagerDialog* modelManager();

    WorkspaceModel& workspaceModel() { return *workspaceModel_; }
    WorkspacePanel& workspace() { return *workspacePanel_; }
    ChatController& chat() { return *chat_; }
    ChatPanel& chatPanel() { return *chatPanel_; }
    InferenceService& inference() { return *inference_; }
    AttentionPanel& attention() { return *attentionPanel_; }
    StacksPanel& stacks() { return *stacksPanel_; }
    ComparePanel& compare() { return *comparePanel_; }
    ReplayBar& replay() { return *replayBar_; }

    // Recording a demo: every exchange from now on, with its pages, timings and recorded attention.
    void startRecording();
    bool isRecording() const;
    // Stops and writes the recording to `file`; false with `error` set when it cannot be written.
    bool stopRecording(const QString& file, QString* error);
    // Plays a recording back without the model (deepstack-studio --replay FILE); false with `error` set.
    bool openRecording(const QString& file, QString* error);

    // Presenter mode: type half again as large, the page strip hidden, the page and the answer side by side.
    void setPresenterMode(bool on);
    bool isPresenterMode() const { return presenter_; }
    // Questions prepared for a document (kept per file): offered under the question box while it is on screen.
    static QStringList preparedQuestions(const QString& path);
    static void setPreparedQuestions(const QString& path, const QStringList& questions);
    void refreshSuggestions();
    // The latest answer with its attention as one page (PDF by QPdfWriter, or PNG by the name): question, answer,
    // the heatmap at the chosen layer and heads, the stack map, timings, model and settings. False with `error`
    // when no attention is recorded or the file cannot be written.
    bool exportAnswerReport(const QString& file, QString* error);

    // How fast a model ran on this device (folder, device and compute), from its answers, kept across sessions:
    // what the estimates before sending use.
    static std::optional<SpeedRates> speedRates(const LoadedModel& model);
    static void rememberSpeed(const LoadedModel& model, const MessageTimings& timings);
    // Records where the latest answer looked and shows it in the Attention tab.
    void recordAttention();
    // Runs the latest question again without each stacked group and shows what changed (the Stacks tab).
    void measureStacks();
    // Draws the boxes and points the answer at `message` names on its question's first page and shows that page
    // (`item` >= 0 also highlights one); false when the answer names none or its page is not open.
    bool showGrounding(int message, int item = -1);
    // The page on screen with its boxes, as PNG; false with a message when there is no page or it cannot be written.
    bool exportPageWithBoxes(const QString& file, QString* error);
    // Ticks the pages of the document on screen whose text fits `question` best and whose image tokens fit the
    // context (at most four), and says which were picked, which were left out and which have no text.
    void pickPages(const QString& question);
    // The image tokens a page costs the loaded model at `dpi` (0: the chat's DPI); -1 when it cannot be known here.
    qint64 pageTokens(const PageRef& page, int dpi = 0) const;
    // Sets the highest DPI at which the ticked pages and the answer fit the context left; false, with a message
    // saying what to do, when even the lowest does not.
    bool fitToContext();
    // Tokens of the loaded model's context the current conversation leaves for the next question.
    qint64 contextLeft() const;
    void showAttentionTab();

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    // The constructor's steps: the tabs and the chat column, the line that says how to get a model, the status bar,
    // what each part answers to, then the last session's settings.
    QSplitter* createPanels();
    void createModelHint(QWidget* parent);
    void createStatusBar();
    void connectWorkspaceAndChat();
    void connectModelLoading();
    void connectStacksAndAttention();
    void restoreSettings(QSplitter* split);
    void onModelLoaded(const LoadedModel& model);
    void showMeasuredStacks(const QString& conversationId, const StackEffectsPtr& effects);
    // A link of the page pick ("page:N"): left-out page N ticked, and the lowest-ranked ticked pages unticked
    // while the context needs their room.
    void swapPickedPageIn(const QString& link);
    // Short questions about a synthetic page, whose timings become this model's kept speed on this device.
    void calibrateSpeed(const LoadedModel& model);
    void createMenus();
    void chooseFilesToOpen();
    void chooseModelFolderToInspect();
    void refreshRecentFiles();
    void rememberRecentFile(const QString& path);
    void showError(const QString& title, const QString& message);
    void updateMemory();
    void showAbout();
    void previewStackPlan();
    void updateModelHint();

    WorkspaceModel* workspaceModel_ = nullptr;
    InferenceService* inference_ = nullptr;
    ChatController* chat_ = nullptr;
    WorkspacePanel* workspacePanel_ = nullptr;
    ChatPanel* chatPanel_ = nullptr;
    AttentionPanel* attentionPanel_ = nullptr;
    StacksPanel* stacksPanel_ = nullptr;
    ComparePanel* comparePanel_ = nullptr;
    DemoRecorder* recorder_ = nullptr;
    ReplayBar* replayBar_ = nullptr;
    QAction* recordAction_ = nullptr;
    bool presenter_ = false;
    QFont normalFont_;
    QStringList modelSuggestions_;
    QString calibrationId_;                    // the speed measurement's request, while it runs
    std::optional<LoadedModel> calibratedModel_;
    // The latest Pick Pages: its document and every page best first, for swapping a left-out page in.
    struct PagePick {
        QString path, question;
        QList<int> ranked, withoutText;
    } lastPick_;
    void showPagePick();
    QString budgetText(const QList<PageRef>& pages) const;
    QTabWidget* leftTabs_ = nullptr;
    ModelManagerDialog* modelManager_ = nullptr;
    QMenu* recentMenu_ = nullptr;
    QLabel* modelStatus_ = nullptr;
    QProgressBar* loadProgress_ = nullptr;
    QLabel* memory_ = nullptr;
    QWidget* modelHint_ = nullptr;
};

}  // namespace deepstack::ui

// Two models, one question: the loaded model (A) and a second one (B: any folder, or A's twin without stacks)
// answer the same question about the ticked pages, one after the other so that their timings are fair (each has
// made an untimed first pass before: A when it was loaded, B when this panel loaded it), and their
// answers stand side by side with times, tokens and image tokens: DeepStack's claim, shown live. A runs on the
// app's worker (in a conversation of its own; the chat replays its own when it next asks); B on a worker of this
// panel.
#pragma once

#include <QWidget>

#include <functional>
#include <optional>

#include "inference/InferenceTypes.h"

class QLabel;
class QLineEdit;
class QPushButton;
class QTextBrowser;

namespace deepstack::ui {

class InferenceService;
class WorkspaceModel;

class ComparePanel : public QWidget {
    Q_OBJECT
public:
    ComparePanel(InferenceService& main, WorkspaceModel& workspace, QWidget* parent = nullptr);

    // Loads B from a model folder (or GGUF file).
    void loadSecondModel(const QString& folder);
    // For a DeepStack model: A's folder as a model without stacks (a cached folder whose config asks for the
    // global view alone, the weights linked, not copied). Returns the folder, or empty with `error` set.
    static QString twinWithoutStacks(const QString& folder, QString* error);
    void loadTwinOfA();
    // Asks both: A first, then B. False, with the reason shown, when it cannot start.
    bool askBoth(const QString& question);
    // Where the sampling options and the pages' DPI come from when a question is asked (the chat's).
    void setSettingsSource(std::function<SamplingOptions()> sampling, std::function<int()> dpi) {
        samplingSource_ = std::move(sampling);
        dpiSource_ = std::move(dpi);
    }

    bool isRunning() const { return running_ != Side::none; }
    InferenceService& second() { return *second_; }
    // The latest answers and their numbers, for tests.
    const std::optional<GenerateResult>& resultA() const { return resultA_; }
    const std::optional<GenerateResult>& resultB() const { return resultB_; }
    QString answerA() const;
    QString answerB() const;
    QString statusText() const;

Q_SIGNALS:
    void finished();
    void problem(const QString& title, const QString& message);

private:
    enum class Side { none, a, b };
    void refreshModels();
    void warmUpSecond();
    void start(Side side);
    void showResult(Side side, const GenerateResult& result);
    QString statsText(const GenerateResult& result) const;

    InferenceService& main_;
    WorkspaceModel& workspace_;
    InferenceService* second_ = nullptr;
    std::function<SamplingOptions()> samplingSource_;
    std::function<int()> dpiSource_;
    Side running_ = Side::none;
    TurnInput question_;
    QString questionPictures_;  // picturesKey() of question_'s pictures
    QString runId_;
    QString warmUpId_;  // B's untimed first pass, under way (empty when none)
    std::optional<GenerateResult> resultA_, resultB_;

    QLabel* modelA_ = nullptr;
    QLineEdit* folderB_ = nullptr;
    QPushButton* chooseB_ = nullptr;
    QPushButton* twin_ = nullptr;
    QPushButton* loadB_ = nullptr;
    QLabel* modelB_ = nullptr;
    QLineEdit* questionBox_ = nullptr;
    QPushButton* ask_ = nullptr;
    QLabel* status_ = nullptr;
    QLabel* titleA_ = nullptr;
    QLabel* titleB_ = nullptr;
    QTextBrowser* textA_ = nullptr;
    QTextBrowser* textB_ = nullptr;
    QLabel* statsA_ = nullptr;
    QLabel* statsB_ = nullptr;
};

}  // namespace deepstack::ui

// The GUI thread's handle on the inference thread: queues work to the InferenceWorker, stops it, and keeps what
// the GUI needs to know (which model is loaded, whether something runs). Destroying it stops and joins the thread.
#pragma once

#include <QObject>
#include <QThread>

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

#include "inference/InferenceTypes.h"

namespace deepstack::ui {

class InferenceWorker;

class InferenceService : public QObject {
    Q_OBJECT
public:
    explicit InferenceService(QObject* parent = nullptr);
    ~InferenceService() override;

    // Each request gets an id (returned) and a kind, so that stopping one kind of work leaves the others alone:
    // an answer's Stop does not cancel a model load or an attention capture queued behind it.
    enum class RequestKind { load, answer, attention, stacks };
    quint64 loadModel(const LoadRequest& request);
    void unloadModel();
    quint64 generate(const GenerateRequest& request);
    quint64 captureAttention(const QString& conversationId, const deepstack::AttentionRequest& request);
    quint64 measureStacks(const QString& conversationId, const SamplingOptions& sampling);
    // Cancels the queued or running requests of `kind`: a generation stops before its next token (or between
    // layers of its vision pass and prefill), a load between tensors.
    void stop(RequestKind kind);
    void cancel(quint64 request);
    // Everything but loads (switching model: the old model's work ends, the new load goes on); everything.
    void stopWork();
    void stopAll();

    const std::optional<LoadedModel>& model() const { return model_; }
    bool isLoading() const { return loading_; }
    bool isGenerating() const { return generating_ > 0; }
    bool isCapturing() const { return capturing_; }
    bool isMeasuringStacks() const { return measuringStacks_; }
    // Generating, loading, recording or measuring: the one model is in use.
    bool isBusy() const { return loading_ || generating_ > 0 || capturing_ || measuringStacks_; }
    // The key (picturesKey()) of the pictures the model last encoded, whose vision pass it keeps for a question
    // about the very same pictures; empty when not known.
    const QString& recentPictures() const { return recentPictures_; }

Q_SIGNALS:
    void loadStarted(const QString& folder);
    void loadProgress(double fraction);
    void modelLoaded(const deepstack::ui::LoadedModel& model);
    void modelLoadFailed(const QString& message, bool cancelled);
    void modelUnloaded();
    void textStreamed(const QString& conversationId, const QString& text, int tokensSoFar);
    void generationFinished(const deepstack::ui::GenerateResult& result);
    void generationFailed(const QString& conversationId, const QString& message);
    void attentionCaptured(const QString& conversationId, const deepstack::ui::AttentionCapturePtr& capture);
    void attentionFailed(const QString& conversationId, const QString& message);
    void stacksProgress(const QString& conversationId, const QString& step);
    void stacksMeasured(const QString& conversationId, const deepstack::ui::StackEffectsPtr& effects);
    void stacksFailed(const QString& conversationId, const QString& message);

private:
    struct Pending {
        quint64 id = 0;
        RequestKind kind = RequestKind::answer;
        std::shared_ptr<std::atomic<bool>> cancel;  // the worker holds a copy while the request is queued or runs
    };
    std::shared_ptr<std::atomic<bool>> newRequest(RequestKind kind);
    void forgetFinishedTokens();

    QThread thread_;
    InferenceWorker* worker_ = nullptr;  // lives in thread_, deleted there when it finishes
    std::vector<Pending> pending_;
    quint64 nextId_ = 1;
    std::optional<LoadedModel> model_;
    bool loading_ = false;
    int generating_ = 0;  // answers queued or running (the chat's, a speed measurement's)
    bool capturing_ = false;
    bool measuringStacks_ = false;
    QString recentPictures_;
};

}  // namespace deepstack::ui

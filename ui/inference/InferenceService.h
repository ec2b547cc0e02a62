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

    void loadModel(const LoadRequest& request);
    void unloadModel();
    void generate(const GenerateRequest& request);
    void captureAttention(const QString& conversationId, const deepstack::AttentionRequest& request);
    void measureStacks(const QString& conversationId, const SamplingOptions& sampling);
    // Cancels everything queued or running: a generation stops before its next token, a load between tensors.
    void stop();

    const std::optional<LoadedModel>& model() const { return model_; }
    bool isLoading() const { return loading_; }
    bool isGenerating() const { return generating_; }
    bool isCapturing() const { return capturing_; }
    bool isMeasuringStacks() const { return measuringStacks_; }
    // Generating, loading, recording or measuring: the one model is in use.
    bool isBusy() const { return loading_ || generating_ || capturing_ || measuringStacks_; }

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
    std::shared_ptr<std::atomic<bool>> newCancelToken();
    void forgetFinishedTokens();

    QThread thread_;
    InferenceWorker* worker_ = nullptr;  // lives in thread_, deleted there when it finishes
    std::vector<std::shared_ptr<std::atomic<bool>>> pending_;
    std::optional<LoadedModel> model_;
    bool loading_ = false;
    bool generating_ = false;
    bool capturing_ = false;
    bool measuringStacks_ = false;
};

}  // namespace deepstack::ui

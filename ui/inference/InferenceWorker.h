// The one object that owns a loaded model. It lives in the inference thread; the GUI reaches it only through
// InferenceService, so no call into the core ever runs on the GUI thread.
#pragma once

#include <QObject>

#include <atomic>
#include <memory>

#include "inference/InferenceTypes.h"

namespace deepstack {
class Model;
class Conversation;
}  // namespace deepstack

namespace deepstack::ui {

class InferenceWorker : public QObject {
    Q_OBJECT
public:
    InferenceWorker();
    ~InferenceWorker() override;

    // Each call runs to its end on the inference thread; `cancel` stops it (loading: between tensors;
    // generation: before the next token).
    void load(const LoadRequest& request, std::shared_ptr<std::atomic<bool>> cancel);
    void unload();
    void generate(const GenerateRequest& request, std::shared_ptr<std::atomic<bool>> cancel);
    // Records the attention of the latest exchange of the conversation this worker holds.
    void captureAttention(const QString& conversationId, const deepstack::AttentionRequest& request,
                          std::shared_ptr<std::atomic<bool>> cancel);
    // Measures what each stacked group changes in the latest exchange (the injection map, then each group left
    // out alone and all together, each answering again under `sampling`); progress says how far it is.
    void measureStacks(const QString& conversationId, const SamplingOptions& sampling, std::shared_ptr<std::atomic<bool>> cancel);

Q_SIGNALS:
    void loadProgress(double fraction);
    void loaded(const deepstack::ui::LoadedModel& model);
    void loadFailed(const QString& message, bool cancelled);
    void unloaded();
    void textStreamed(const QString& conversationId, const QString& text, int tokensSoFar);
    void finished(const deepstack::ui::GenerateResult& result);
    void failed(const QString& conversationId, const QString& message);
    void attentionCaptured(const QString& conversationId, const deepstack::ui::AttentionCapturePtr& capture);
    void attentionFailed(const QString& conversationId, const QString& message);
    void stacksProgress(const QString& conversationId, const QString& step);
    void stacksMeasured(const QString& conversationId, const deepstack::ui::StackEffectsPtr& effects);
    void stacksFailed(const QString& conversationId, const QString& message);

private:
    std::unique_ptr<Model> model_;
    std::unique_ptr<Conversation> conversation_;
    QString conversationId_;
    QString conversationPrompt_;
};

}  // namespace deepstack::ui

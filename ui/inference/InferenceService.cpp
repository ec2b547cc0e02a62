#include "inference/InferenceService.h"

#include <algorithm>

#include "inference/InferenceWorker.h"

namespace deepstack::ui {

InferenceService::InferenceService(QObject* parent) : QObject(parent) {
    qRegisterMetaType<LoadedModel>();
    qRegisterMetaType<GenerateResult>();
    qRegisterMetaType<AttentionCapturePtr>();
    qRegisterMetaType<StackEffectsPtr>();
    thread_.setObjectName("inference");
    worker_ = new InferenceWorker();
    worker_->moveToThread(&thread_);
    connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);

    // The worker's signals arrive queued on this (GUI) thread.
    connect(worker_, &InferenceWorker::loadProgress, this, &InferenceService::loadProgress);
    connect(worker_, &InferenceWorker::loaded, this, [this](const LoadedModel& model) {
        loading_ = false;
        model_ = model;
        recentPictures_.clear();
        forgetFinishedTokens();
        Q_EMIT modelLoaded(model);
    });
    connect(worker_, &InferenceWorker::loadFailed, this, [this](const QString& message, bool cancelled) {
        loading_ = false;
        model_.reset();
        forgetFinishedTokens();
        Q_EMIT modelLoadFailed(message, cancelled);
    });
    connect(worker_, &InferenceWorker::unloaded, this, [this] {
        model_.reset();
        recentPictures_.clear();
        Q_EMIT modelUnloaded();
    });
    connect(worker_, &InferenceWorker::textStreamed, this, &InferenceService::textStreamed);
    connect(worker_, &InferenceWorker::finished, this, [this](const GenerateResult& result) {
        generating_ = std::max(0, generating_ - 1);
        if (result.encodedPictures) recentPictures_ = *result.encodedPictures;
        forgetFinishedTokens();
        Q_EMIT generationFinished(result);
    });
    connect(worker_, &InferenceWorker::failed, this, [this](const QString& id, const QString& message) {
        generating_ = std::max(0, generating_ - 1);
        recentPictures_.clear();  // it may have failed after encoding
        forgetFinishedTokens();
        Q_EMIT generationFailed(id, message);
    });
    connect(worker_, &InferenceWorker::attentionCaptured, this, [this](const QString& id, const AttentionCapturePtr& capture) {
        capturing_ = false;
        recentPictures_.clear();  // a capture runs the exchange again, its pictures perhaps among them
        forgetFinishedTokens();
        Q_EMIT attentionCaptured(id, capture);
    });
    connect(worker_, &InferenceWorker::attentionFailed, this, [this](const QString& id, const QString& message) {
        capturing_ = false;
        recentPictures_.clear();
        forgetFinishedTokens();
        Q_EMIT attentionFailed(id, message);
    });
    connect(worker_, &InferenceWorker::stacksProgress, this, &InferenceService::stacksProgress);
    connect(worker_, &InferenceWorker::stacksMeasured, this, [this](const QString& id, const StackEffectsPtr& effects) {
        measuringStacks_ = false;
        recentPictures_.clear();  // the ablations run the exchange again
        forgetFinishedTokens();
        Q_EMIT stacksMeasured(id, effects);
    });
    connect(worker_, &InferenceWorker::stacksFailed, this, [this](const QString& id, const QString& message) {
        measuringStacks_ = false;
        recentPictures_.clear();
        forgetFinishedTokens();
        Q_EMIT stacksFailed(id, message);
    });
    thread_.start();
}

quint64 InferenceService::measureStacks(const QString& conversationId, const SamplingOptions& sampling) {
    measuringStacks_ = true;
    const auto cancel = newRequest(RequestKind::stacks);
    QMetaObject::invokeMethod(
        worker_, [worker = worker_, conversationId, sampling, cancel] { worker->measureStacks(conversationId, sampling, cancel); },
        Qt::QueuedConnection);
    return pending_.back().id;
}

quint64 InferenceService::captureAttention(const QString& conversationId, const deepstack::AttentionRequest& request) {
    capturing_ = true;
    const auto cancel = newRequest(RequestKind::attention);
    QMetaObject::invokeMethod(
        worker_, [worker = worker_, conversationId, request, cancel] { worker->captureAttention(conversationId, request, cancel); },
        Qt::QueuedConnection);
    return pending_.back().id;
}

InferenceService::~InferenceService() {
    stopAll();
    thread_.quit();  // runs after the work already queued, which the cancel tokens cut short
    thread_.wait();
}

std::shared_ptr<std::atomic<bool>> InferenceService::newRequest(RequestKind kind) {
    auto token = std::make_shared<std::atomic<bool>>(false);
    pending_.push_back({nextId_++, kind, token});
    return token;
}

void InferenceService::forgetFinishedTokens() {
    // A token the worker no longer holds has one owner left: this list.
    std::erase_if(pending_, [](const Pending& p) { return p.cancel.use_count() == 1; });
}

quint64 InferenceService::loadModel(const LoadRequest& request) {
    loading_ = true;
    model_.reset();
    Q_EMIT loadStarted(request.folder);
    auto cancel = newRequest(RequestKind::load);
    QMetaObject::invokeMethod(worker_, [worker = worker_, request, cancel] { worker->load(request, cancel); }, Qt::QueuedConnection);
    return pending_.back().id;
}

void InferenceService::unloadModel() {
    QMetaObject::invokeMethod(worker_, &InferenceWorker::unload, Qt::QueuedConnection);
}

quint64 InferenceService::generate(const GenerateRequest& request) {
    ++generating_;
    auto cancel = newRequest(RequestKind::answer);
    QMetaObject::invokeMethod(worker_, [worker = worker_, request, cancel] { worker->generate(request, cancel); }, Qt::QueuedConnection);
    return pending_.back().id;
}

void InferenceService::stop(RequestKind kind) {
    for (const auto& p : pending_)
        if (p.kind == kind) p.cancel->store(true);
}

void InferenceService::cancel(quint64 request) {
    for (const auto& p : pending_)
        if (p.id == request) p.cancel->store(true);
}

void InferenceService::stopWork() {
    for (const auto& p : pending_)
        if (p.kind != RequestKind::load) p.cancel->store(true);
}

void InferenceService::stopAll() {
    for (const auto& p : pending_) p.cancel->store(true);
}

}  // namespace deepstack::ui

#include "inference/InferenceWorker.h"

#include "RgbImages.h"

#include <cstring>

#include "deepstack/engine.h"
#include "deepstack/error.h"
#include "deepstack/remote.h"

namespace deepstack::ui {

namespace {
Message toMessage(const TurnInput& input) {
    Message message{Message::Role::user, input.text.toStdString(), {}};
    for (const auto& image : input.images) message.images.push_back(toRgbImage(image));
    return message;
}

SamplingSettings toSettings(const SamplingOptions& o) {
    SamplingSettings s;
    s.temperature = o.temperature;
    s.top_p = o.topP;
    s.top_k = o.topK;
    s.max_new_tokens = o.maxTokens;
    s.seed = o.seed;
    return s;
}

QString describe(const std::exception& e) {
    if (const auto* error = dynamic_cast<const Error*>(&e)) {
        if (error->kind() == ErrorKind::resources && std::string_view(error->what()).find("memory") != std::string_view::npos) return QString::fromStdString(error->what()) + "\nClose other programs, pick a smaller model or a shorter context.";
        return QString::fromStdString(error->what());
    }
    return QString::fromStdString(e.what());
}
}  // namespace

InferenceWorker::InferenceWorker() = default;

InferenceWorker::~InferenceWorker() = default;

void InferenceWorker::load(const LoadRequest& request, std::shared_ptr<std::atomic<bool>> cancel) {
    conversation_.reset();
    conversationId_.clear();
    model_.reset();  // two models rarely fit: free the old one first
    EngineOptions options;
    options.device = request.device == DeviceChoice::cuda ? DeviceKind::cuda : DeviceKind::cpu;
    options.compute = request.compute == ComputeChoice::bf16 ? ComputeType::bf16
                      : request.compute == ComputeChoice::f32 ? ComputeType::f32
                                                               : ComputeType::automatic;
    options.weights = request.weights == WeightsChoice::q8_0   ? WeightFormat::q8_0
                      : request.weights == WeightsChoice::q4_k ? WeightFormat::q4_k
                      : request.weights == WeightsChoice::q4_0 ? WeightFormat::q4_0
                                                               : WeightFormat::automatic;
    options.context_tokens = request.contextTokens;
    options.max_image_pixels = request.maxImagePixels;
    options.on_load_progress = [this, cancel](double fraction) {
        if (cancel->load()) throw Error(ErrorKind::cancelled, "", "loading was cancelled");
        Q_EMIT loadProgress(fraction);
    };
    try {
        if (request.server.isEmpty()) {
            model_ = Model::load(request.folder.toStdString(), options);
        } else {
            RemoteOptions remote;
            remote.base_url = request.server.toStdString();
            remote.model = request.folder.toStdString();
            remote.api_key = request.apiKey.toStdString();
            if (request.maxImagePixels > 0) remote.max_image_pixels = request.maxImagePixels;
            model_ = connect_remote(remote);
        }
    } catch (const Error& e) {
        Q_EMIT loadFailed(describe(e), e.kind() == ErrorKind::cancelled);
        return;
    } catch (const std::exception& e) {
        Q_EMIT loadFailed(describe(e), false);
        return;
    }
    const auto& info = model_->info();
    LoadedModel summary{request.folder,
                       QString::fromStdString(info.family),
                       QString::fromStdString(info.display_name),
                       QString::fromStdString(info.device),
                       QString::fromStdString(info.compute),
                       info.parameters,
                       info.context_tokens,
                       info.max_image_pixels,
                       {}};
    const auto defaults = model_->default_sampling();
    summary.defaults = {defaults.temperature, defaults.top_p, static_cast<int>(defaults.top_k), static_cast<int>(defaults.max_new_tokens), defaults.seed};
    Q_EMIT loaded(summary);
}

void InferenceWorker::unload() {
    conversation_.reset();
    conversationId_.clear();
    model_.reset();
    Q_EMIT unloaded();
}

void InferenceWorker::generate(const GenerateRequest& request, std::shared_ptr<std::atomic<bool>> cancel) {
    if (!model_) {
        Q_EMIT failed(request.conversationId, tr("No model is loaded. Choose one in Model › Models…"));
        return;
    }
    bool replayedPictures = false;  // earlier questions' pictures encoded again: the kept pass is theirs
    try {
        const auto held = conversation_ && conversationId_ == request.conversationId && conversationPrompt_ == request.systemPrompt &&
                          conversation_->turns() >= static_cast<std::size_t>(request.keepExchanges);
        if (!held) {
            if (request.history.size() != request.keepExchanges)
                throw Error(ErrorKind::internal, "", "the conversation's earlier messages were not sent to the worker");
            conversation_ = model_->start_conversation(request.systemPrompt.toStdString());
            conversationId_ = request.conversationId;
            conversationPrompt_ = request.systemPrompt;
            for (const auto& exchange : request.history) {
                if (cancel->load()) break;
                replayedPictures = replayedPictures || !exchange.question.images.isEmpty();
                std::vector<TokenId> tokens(exchange.replyTokens.begin(), exchange.replyTokens.end());
                conversation_->replay(toMessage(exchange.question), exchange.reply.toStdString(), tokens);
            }
        }
        conversation_->rewind(static_cast<std::size_t>(request.keepExchanges));
        if (conversation_->turns() != static_cast<std::size_t>(request.keepExchanges)) {  // cancelled while replaying
            conversation_.reset();
            GenerateResult result;
            result.conversationId = request.conversationId;
            result.stopReason = "cancelled";
            if (replayedPictures) result.encodedPictures = QString();
            Q_EMIT finished(result);
            return;
        }
        GenerationCallbacks callbacks;
        int tokens = 0, pieces = 0;
        callbacks.on_token = [&](TokenId) { ++tokens; };
        // A serving engine streams text without token ids, one token a piece as llama.cpp and vLLM send them.
        callbacks.on_text = [&](std::string_view text) {
            ++pieces;
            Q_EMIT textStreamed(request.conversationId, QString::fromUtf8(text.data(), static_cast<qsizetype>(text.size())),
                                tokens > 0 ? tokens : pieces);
        };
        const auto r = conversation_->send(toMessage(request.question), toSettings(request.sampling), callbacks, cancel.get());
        GenerateResult result;
        result.conversationId = request.conversationId;
        result.stopReason = QString::fromUtf8(to_string(r.stop).data(), static_cast<qsizetype>(to_string(r.stop).size()));
        result.tokens = QList<qint32>(r.tokens.begin(), r.tokens.end());
        result.timings = {r.vision_ms, r.prefill_ms, r.time_to_first_token_ms, r.decode_tokens_per_s(),
                          r.prompt_tokens, r.image_tokens, static_cast<qint64>(r.tokens.size()), r.vision_reused};
        result.contextTokens = conversation_->context_tokens();
        result.contextCapacity = conversation_->context_capacity();
        if (!request.question.images.isEmpty())
            result.encodedPictures = r.image_tokens > 0 ? request.picturesKey : QString();  // no image tokens: stopped in the vision pass
        else if (replayedPictures)
            result.encodedPictures = QString();
        Q_EMIT finished(result);
    } catch (const std::exception& e) {
        // The core left the conversation as it was before this question; start afresh next time to be safe.
        conversation_.reset();
        conversationId_.clear();
        Q_EMIT failed(request.conversationId, describe(e));
    }
}

void InferenceWorker::captureAttention(const QString& conversationId, const deepstack::AttentionRequest& request,
                                       std::shared_ptr<std::atomic<bool>> cancel) {
    if (!model_) {
        Q_EMIT attentionFailed(conversationId, tr("No model is loaded. Choose one in Model › Models…"));
        return;
    }
    if (!conversation_ || conversationId_ != conversationId) {
        Q_EMIT attentionFailed(conversationId, tr("Attention is recorded for an answer given since the model was loaded: "
                                                  "ask the question again (Regenerate) and look again."));
        return;
    }
    try {
        auto capture = std::make_shared<const AttentionCapture>(conversation_->capture_attention(request, cancel.get()));
        Q_EMIT attentionCaptured(conversationId, capture);
    } catch (const std::exception& e) {
        Q_EMIT attentionFailed(conversationId, describe(e));  // the core left the conversation as it was
    }
}

void InferenceWorker::measureStacks(const QString& conversationId, const SamplingOptions& sampling, std::shared_ptr<std::atomic<bool>> cancel) {
    if (!model_) {
        Q_EMIT stacksFailed(conversationId, tr("No model is loaded. Choose one in Model › Models…"));
        return;
    }
    if (!conversation_ || conversationId_ != conversationId) {
        Q_EMIT stacksFailed(conversationId, tr("The stacks are measured on an answer given since the model was loaded: "
                                               "ask the question again (Regenerate) and measure again."));
        return;
    }
    try {
        auto effects = std::make_shared<StackEffects>();
        Q_EMIT stacksProgress(conversationId, tr("Measuring where each group joins…"));
        effects->map = conversation_->measure_injections(cancel.get());
        const auto groups = effects->map.images.empty() ? 0 : static_cast<int>(effects->map.images.front().plan.groups.size());
        const auto settings = toSettings(sampling);
        AblationRequest all;
        for (int g = 1; g <= groups; ++g) {
            Q_EMIT stacksProgress(conversationId, tr("Answering without group %1 of %2…").arg(g).arg(groups));
            effects->each.push_back(conversation_->ablate({{g}, true}, settings, cancel.get()));
            all.groups.push_back(g);
        }
        Q_EMIT stacksProgress(conversationId, tr("Answering without any group…"));
        effects->all = conversation_->ablate(all, settings, cancel.get());
        Q_EMIT stacksMeasured(conversationId, effects);
    } catch (const std::exception& e) {
        Q_EMIT stacksFailed(conversationId, describe(e));  // the core left the conversation as it was
    }
}

}  // namespace deepstack::ui

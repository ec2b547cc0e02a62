// A model loaded by the engine and a conversation with it: the turns in the family's KV cache and the generation
// loop every family shares (conversation.cpp), and what the attention and stack views ask of the latest answer,
// each run again over the exchange as it was (answer_probes.cpp). Model::load is in engine.cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "deepstack/engine.h"
#include "deepstack/error.h"
#include "deepstack/stack_plan.h"
#include "deepstack/tokenizer.h"
#include "engine/family.h"

namespace deepstack::nn {
class StackEdit;
}

namespace deepstack::engine {

// Turns LibTorch's exceptions into the core's own at the boundary.
template <typename Body>
auto guarded(const char* what, Body&& body) {
    try {
        return body();
    } catch (const Error&) {
        throw;
    } catch (const c10::Error& e) {
        throw Error(ErrorKind::internal, "", std::string(what) + ": " + e.what_without_backtrace());
    } catch (const std::bad_alloc&) {
        throw Error(ErrorKind::resources, "", std::string(what) + ": out of memory");
    }
}

class ModelImpl final : public Model {
public:
    ModelInfo info_;
    std::unique_ptr<Tokenizer> tokenizer_;
    std::unique_ptr<Family> family_;
    SamplingSettings defaults_;
    std::int64_t context_tokens_ = 0;
    std::int64_t min_image_pixels_ = 0, max_image_pixels_ = 0;

    const ModelInfo& info() const override { return info_; }
    StackPlan stack_plan(std::int64_t width, std::int64_t height) const override {
        return deepstack::stack_plan(info_.folder, width, height, min_image_pixels_, max_image_pixels_);
    }
    const Tokenizer& tokenizer() const { return *tokenizer_; }
    SamplingSettings default_sampling() const override { return defaults_; }
    std::unique_ptr<Conversation> start_conversation(const std::string& system_prompt) override;
};

class ConversationImpl final : public Conversation {
public:
    ConversationImpl(ModelImpl& model, std::string system_prompt)
        : model_(model),
          system_prompt_(std::move(system_prompt)),
          session_(model.family_->new_session(model.context_tokens_)) {}

    GenerationResult send(const Message& user, const SamplingSettings& sampling, const GenerationCallbacks& callbacks,
                          const std::atomic<bool>* cancel) override;
    std::int64_t context_tokens() const override { return session_->length(); }
    std::int64_t context_capacity() const override { return session_->capacity(); }
    std::size_t turns() const override { return turn_starts_.size(); }
    void rewind(std::size_t turn) override;
    void replay(const Message& user, const std::string& reply_text, const std::vector<TokenId>& reply_tokens) override;

    AttentionCapture capture_attention(const AttentionRequest& request, const std::atomic<bool>* cancel) override;
    Ablation ablate(const AblationRequest& request, const SamplingSettings& sampling,
                    const std::atomic<bool>* cancel) override;
    InjectionMap measure_injections(const std::atomic<bool>* cancel) override;

private:
    // conversation.cpp: a turn asked, generated or restored.
    struct TurnStart {
        SessionMark session;
        std::size_t history = 0;
    };
    void replay_turn(const Message& user, const std::string& reply_text, const std::vector<TokenId>& reply_tokens);
    // Prepares a question's tokens (with what closes the previous reply) and remembers where it began.
    PreparedTurn begin_turn(const Message& user);
    GenerationResult run(const Message& user, const SamplingSettings& sampling, const GenerationCallbacks& callbacks,
                         const std::atomic<bool>* cancel);
    // Samples a reply from `logits` (the prompt's last position) on, into `result`: streams its text, stops at the
    // end of the turn, the token limit, a full context or `cancel`, and times each step. `history` (every id in
    // the cache, for the penalties) grows with the reply. The last sampled token is run too, so the cache holds
    // the whole reply.
    void generate(torch::Tensor logits, const SamplingSettings& sampling, std::vector<TokenId>& history,
                  const GenerationCallbacks& callbacks, const std::atomic<bool>* cancel,
                  std::chrono::steady_clock::time_point start, GenerationResult& result);

    // answer_probes.cpp: the latest exchange looked into.
    // The latest question's pictures with their plans and where their tokens lie in the conversation.
    std::vector<AttentionImage> latest_images() const;
    // Runs `pass` on the cache as it stood before the latest question, then puts the cache back exactly as the
    // conversation left it, whatever `pass` did or threw.
    template <typename Pass>
    auto rerun_latest(Pass&& pass);
    // How many tokens of the latest reply the cache holds (all, unless the context filled before the last ran).
    std::int64_t latest_reply_in_cache() const;
    // The latest question's stack plan (its first picture's; every picture has the same groups) after the checks
    // that every stack view shares.
    StackPlan stacked_plan(const char* what) const;
    // Scores the latest reply's first `count` tokens, teacher-forced: prefill (under `edit`) then the reply's
    // tokens, keeping each row's log-probability of the next original token and its margin over the best other.
    // `first_logits`, when given, receives the prefill's logits and `after_prefill` the session's mark after it.
    struct Scores {
        std::vector<double> logprob, margin;
    };
    Scores score_latest(std::int64_t count, nn::StackEdit* edit, torch::Tensor* first_logits,
                        SessionMark* after_prefill, const std::atomic<bool>* cancel);
    Ablation ablation(const AblationRequest& request, const SamplingSettings& sampling,
                      const std::atomic<bool>* cancel);
    InjectionMap injections(const std::atomic<bool>* cancel);
    AttentionCapture capture(const AttentionRequest& request, const std::atomic<bool>* cancel);

    ModelImpl& model_;
    std::string system_prompt_;
    std::unique_ptr<FamilySession> session_;
    std::vector<TokenId> history_;  // every id in the cache, for the repetition penalty
    std::vector<TurnStart> turn_starts_;
    bool first_ = true;
    // The latest exchange as it ran: what a capture pass needs to run it again.
    struct Latest {
        PreparedTurn turn;
        std::vector<TokenId> reply;
        std::vector<RgbImage> images;
    };
    std::optional<Latest> latest_;
    // The latest reply's tokens scored as generated (no group left out): computed by the first ablation, kept
    // for the next ones until the latest exchange changes.
    std::optional<Scores> latest_scores_;
};

}  // namespace deepstack::engine

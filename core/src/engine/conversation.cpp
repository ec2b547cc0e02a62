// A conversation's turns in its family's KV cache, and the generation loop every family shares: prefill, sample,
// stream, stop, time. A turn that fails or is stopped leaves the conversation as it was before it.
#include "engine/conversation.h"

#include <algorithm>
#include <chrono>

#include "engine/clock.h"
#include "engine/sampling.h"
#include "nn/cancel.h"

namespace deepstack::engine {

GenerationResult ConversationImpl::send(const Message& user, const SamplingSettings& sampling,
                                        const GenerationCallbacks& callbacks, const std::atomic<bool>* cancel) {
    const auto turns_before = turn_starts_.size();
    try {
        return guarded("generation failed", [&] { return run(user, sampling, callbacks, cancel); });
    } catch (...) {
        rewind(turns_before);  // a failed turn leaves the conversation as it was
        throw;
    }
}

void ConversationImpl::rewind(std::size_t turn) {
    if (turn >= turn_starts_.size()) return;
    const auto start = turn_starts_[turn];
    session_->rewind(start.session);
    history_.resize(start.history);
    first_ = turn == 0;
    turn_starts_.resize(turn);
    latest_scores_.reset();
    latest_.reset();  // the exchange before `turn` was not prepared by this object's latest send
}

void ConversationImpl::replay(const Message& user, const std::string& reply_text,
                              const std::vector<TokenId>& reply_tokens) {
    const auto turns_before = turn_starts_.size();
    try {
        replay_turn(user, reply_text, reply_tokens);
    } catch (...) {
        rewind(turns_before);
        throw;
    }
}

void ConversationImpl::replay_turn(const Message& user, const std::string& reply_text,
                                   const std::vector<TokenId>& reply_tokens) {
    guarded("restoring the conversation failed", [&] {
        c10::InferenceMode inference;
        const auto turn = begin_turn(user);
        (void)session_->prefill(turn, nullptr, nullptr);
        history_.insert(history_.end(), turn.ids.begin(), turn.ids.end());
        const auto reply = reply_tokens.empty() ? model_.tokenizer().encode(reply_text) : reply_tokens;
        latest_ = Latest{turn, reply, user.images};
        latest_scores_.reset();
        if (reply.empty()) return;
        if (session_->length() + static_cast<std::int64_t>(reply.size()) >= session_->capacity())
            throw Error(ErrorKind::resources, "",
                        "the restored conversation does not fit in the context of " +
                            std::to_string(session_->capacity()) + " tokens");
        (void)session_->extend(reply, nullptr);
        history_.insert(history_.end(), reply.begin(), reply.end());
    });
}

PreparedTurn ConversationImpl::begin_turn(const Message& user) {
    const auto prefix = first_ ? std::vector<TokenId>{} : model_.family_->close_reply_ids();
    auto turn = session_->prepare(user, system_prompt_, first_, prefix);
    const auto turn_tokens = static_cast<std::int64_t>(turn.ids.size());
    if (session_->length() + turn_tokens >= session_->capacity())
        throw Error(ErrorKind::resources, "",
                    "this message needs " + std::to_string(turn_tokens) + " tokens but only " +
                        std::to_string(session_->capacity() - session_->length()) +
                        " are left in the conversation's context of " + std::to_string(session_->capacity()) +
                        "; start a new chat or use smaller images");
    turn_starts_.push_back({session_->mark(), history_.size()});
    first_ = false;
    return turn;
}

GenerationResult ConversationImpl::run(const Message& user, const SamplingSettings& sampling,
                                       const GenerationCallbacks& callbacks, const std::atomic<bool>* cancel) {
    c10::InferenceMode inference;
    GenerationResult result;
    const auto start = std::chrono::steady_clock::now();
    if (cancel != nullptr && cancel->load()) {
        result.stop = StopReason::cancelled;
        return result;
    }
    // The picture's vision pass and the prefill stop between layers when asked; the conversation is then left
    // exactly as it was before the question.
    const auto mark = session_->mark();
    const auto turns_before = turn_starts_.size();
    const bool first_before = first_;
    PreparedTurn turn;
    torch::Tensor logits;
    try {
        const nn::CancelScope stoppable(cancel);
        turn = begin_turn(user);
        result.prompt_tokens = static_cast<std::int64_t>(turn.ids.size());
        result.image_tokens = turn.image_tokens;
        result.vision_ms = turn.vision_ms;
        result.vision_reused = turn.vision_reused;
        const auto prefill_start = std::chrono::steady_clock::now();
        logits = session_->prefill(turn, nullptr, nullptr);
        result.prefill_ms = elapsed_ms(prefill_start);
    } catch (const Error& e) {
        if (e.kind() != ErrorKind::cancelled) throw;
        session_->rewind(mark);
        turn_starts_.resize(turns_before);
        first_ = first_before;
        result = GenerationResult{};
        result.stop = StopReason::cancelled;
        result.context_tokens = session_->length();
        return result;
    }
    history_.insert(history_.end(), turn.ids.begin(), turn.ids.end());
    generate(logits, sampling, history_, callbacks, cancel, start, result);
    result.context_tokens = session_->length();
    latest_ = Latest{turn, result.tokens, user.images};
    latest_scores_.reset();
    return result;
}

void ConversationImpl::generate(torch::Tensor logits, const SamplingSettings& sampling, std::vector<TokenId>& history,
                                const GenerationCallbacks& callbacks, const std::atomic<bool>* cancel,
                                std::chrono::steady_clock::time_point start, GenerationResult& result) {
    Sampler sampler(sampling);
    StreamingDecoder stream(model_.tokenizer());
    const auto stops = model_.family_->end_of_turn_ids();
    result.stop = StopReason::max_tokens;
    for (std::int64_t step = 0; step < sampling.max_new_tokens; ++step) {
        if (cancel != nullptr && cancel->load()) {
            result.stop = StopReason::cancelled;
            break;
        }
        // Embedding tables are padded past the tokenizer (151936 rows for 151669 ids): never pick a row with no text.
        const auto usable = std::min<std::int64_t>(logits.size(0), model_.tokenizer().size());
        const auto token = sampler.next(logits.narrow(0, 0, usable), history, result.tokens);
        if (step == 0) result.time_to_first_token_ms = elapsed_ms(start);
        if (std::find(stops.begin(), stops.end(), token) != stops.end()) {
            result.stop = StopReason::end_of_turn;
            break;
        }
        result.tokens.push_back(token);
        history.push_back(token);
        if (callbacks.on_token) callbacks.on_token(token);
        if (auto text = stream.push(token); !text.empty()) {
            result.text += text;
            if (callbacks.on_text) callbacks.on_text(text);
        }
        if (step + 1 == sampling.max_new_tokens) break;
        if (session_->length() + 1 >= session_->capacity()) {
            result.stop = StopReason::context_full;
            break;
        }
        const auto step_start = std::chrono::steady_clock::now();
        logits = session_->decode(token);
        result.decode_ms.push_back(elapsed_ms(step_start));
    }
    if (auto rest = stream.finish(); !rest.empty()) {
        result.text += rest;
        if (callbacks.on_text) callbacks.on_text(rest);
    }
    if (!result.tokens.empty() && session_->length() < static_cast<std::int64_t>(history.size()) &&
        session_->length() + 1 < session_->capacity())
        (void)session_->decode(result.tokens.back());
}

}  // namespace deepstack::engine

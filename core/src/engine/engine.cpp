// The one generation loop every family shares: prefill, sample, stream, stop, time.
#include "deepstack/engine.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <cstdio>
#include <thread>

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/types.h>
#include <torch/version.h>

#include "deepstack/error.h"
#include "deepstack/inspect.h"
#include "deepstack/model_folder.h"
#include "deepstack/system.h"
#include "engine/clock.h"
#include "engine/family.h"
#include "engine/sampling.h"
#include "nn/blocks.h"
#include "nn/cancel.h"
#include "nn/stack_edit.h"
#include "quant/formats.h"
#include "quant/kernels.h"

namespace deepstack {

std::string_view to_string(StopReason reason) {
    switch (reason) {
        case StopReason::end_of_turn: return "end_of_turn";
        case StopReason::max_tokens: return "max_tokens";
        case StopReason::cancelled: return "cancelled";
        case StopReason::context_full: return "context_full";
        case StopReason::interrupted: return "interrupted";
    }
    return "?";
}

double GenerationResult::prefill_tokens_per_s() const { return prefill_ms > 0 ? 1000.0 * static_cast<double>(prompt_tokens) / prefill_ms : 0; }
double GenerationResult::decode_tokens_per_s() const {
    double total = 0;
    for (const auto ms : decode_ms) total += ms;
    return total > 0 ? 1000.0 * static_cast<double>(decode_ms.size()) / total : 0;
}

bool cuda_available() { return torch::cuda::is_available(); }

LibTorchKernels libtorch_kernels() {
    // at::show_config() is the one place LibTorch says which BLAS it was built with and which CPU kernels it
    // dispatches to on this machine ("CPU capability usage: AVX512", "BLAS_INFO=mkl").
    const auto config = at::show_config();
    const auto value_after = [&](const std::string& key, const std::string& ends) {
        const auto at = config.find(key);
        if (at == std::string::npos) return std::string();
        const auto from = at + key.size();
        return config.substr(from, config.find_first_of(ends, from) - from);
    };
    return {TORCH_VERSION, value_after("CPU capability usage: ", "\n"), value_after("BLAS_INFO=", ",\n")};
}

std::string libtorch_description() {
    const auto kernels = libtorch_kernels();
    std::string out = "LibTorch " + kernels.version + " (CPU kernels " + kernels.cpu_capability + ", BLAS " + kernels.blas + "; ";
    if (!torch::cuda::is_available()) return out + (at::hasCUDA() ? "CUDA built in, no GPU visible)" : "no CUDA)");
    const auto devices = torch::cuda::device_count();
    return out + "CUDA: " + std::to_string(devices) + (devices == 1 ? " device)" : " devices)");
}

std::string quantized_kernels_description() {
    return "quantized weights (Q8_0, Q4_K, Q4_0, Q6_K): " + quant::matvec_kernel_name() + " kernels";
}

ComputeType resolve_compute(ComputeType requested, DeviceKind device) {
    if (requested != ComputeType::automatic) return requested;
    if (device == DeviceKind::cuda) return ComputeType::bf16;
    __builtin_cpu_init();
    const bool fast_bf16 = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    return fast_bf16 ? ComputeType::bf16 : ComputeType::f32;
}

std::int64_t automatic_image_pixels(DeviceKind device, int threads) {
    constexpr std::int64_t kModelMaximum = 16777216, kPerTwoCores = 1 << 20;
    if (device == DeviceKind::cuda) return kModelMaximum;
    if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    return std::clamp<std::int64_t>(threads / 2, 1, 4) * kPerTwoCores;
}

namespace engine {
std::optional<quant::Format> matrix_format(WeightFormat weights) {
    switch (weights) {
        case WeightFormat::automatic: return std::nullopt;
        case WeightFormat::q8_0: return quant::Format::q8_0;
        case WeightFormat::q4_k: return quant::Format::q4_k;
        case WeightFormat::q4_0: return quant::Format::q4_0;
    }
    return std::nullopt;
}

}  // namespace engine

// What the weights take in memory: the language model's matrices in their format, every other weight in the
// compute type (the checkpoint's bytes at bf16 are what the report counts).
std::uint64_t weights_memory_bytes(const InspectReport& report, ComputeType requested, WeightFormat weights, DeviceKind device) {
    const auto matrices = engine::matrix_format(weights);
    const auto compute = resolve_compute(requested, device);
    const std::uint64_t element = compute == ComputeType::f32 ? 4 : 2;
    if (!matrices && !report.gguf) return report.cpu.weights_bytes / 2 * element;
    std::uint64_t bytes = 0;
    for (const auto& part : report.parts) {
        const auto parameters = static_cast<std::uint64_t>(part.parameters);
        // A GGUF file's quantized matrices are used as stored (its dense ones are converted like any checkpoint's).
        const bool stored_quantized = report.gguf && device == DeviceKind::cpu && part.bytes < parameters * 2;
        if (stored_quantized) {
            bytes += part.bytes;
        } else if (part.name == "language model" && matrices) {
            const auto& t = quant::traits(*matrices);
            bytes += parameters * static_cast<std::uint64_t>(t.block_bytes) / static_cast<std::uint64_t>(t.block_size);
        } else {
            bytes += parameters * element;
        }
    }
    return bytes;
}

namespace {

bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
        if (n == 0 || i + n > s.size()) return false;
        for (std::size_t k = 1; k < n; ++k)
            if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
        i += n;
    }
    return true;
}

// One token's text for the attention view: a token that is only part of a character shows its bytes (<0xE4>).
std::string token_text(const Tokenizer& tokenizer, TokenId id) {
    const auto bytes = tokenizer.token_bytes(id);
    if (valid_utf8(bytes)) return tokenizer.decode(std::vector<TokenId>{id});
    std::string out;
    char hex[8];
    for (const auto b : bytes) {
        std::snprintf(hex, sizeof hex, "<0x%02X>", static_cast<unsigned char>(b));
        out += hex;
    }
    return out;
}

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

class ConversationImpl;

class ModelImpl final : public Model {
public:
    ModelInfo info_;
    std::unique_ptr<Tokenizer> tokenizer_;
    std::unique_ptr<engine::Family> family_;
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
        : model_(model), system_prompt_(std::move(system_prompt)), session_(model.family_->new_session(model.context_tokens_)) {}

    GenerationResult send(const Message& user, const SamplingSettings& sampling, const GenerationCallbacks& callbacks,
                          const std::atomic<bool>* cancel) override {
        const auto turns_before = turn_starts_.size();
        try {
            return guarded("generation failed", [&] { return run(user, sampling, callbacks, cancel); });
        } catch (...) {
            rewind(turns_before);  // a failed turn leaves the conversation as it was
            throw;
        }
    }
    std::int64_t context_tokens() const override { return session_->length(); }
    std::int64_t context_capacity() const override { return session_->capacity(); }
    std::size_t turns() const override { return turn_starts_.size(); }

    void rewind(std::size_t turn) override {
        if (turn >= turn_starts_.size()) return;
        const auto start = turn_starts_[turn];
        session_->rewind(start.session);
        history_.resize(start.history);
        first_ = turn == 0;
        turn_starts_.resize(turn);
        latest_scores_.reset();
        latest_.reset();  // the exchange before `turn` was not prepared by this object's latest send
    }

    AttentionCapture capture_attention(const AttentionRequest& request, const std::atomic<bool>* cancel) override {
        if (!latest_ || turn_starts_.empty())
            throw Error(ErrorKind::config, "", "there is no answer to look into: attention is recorded for the latest question and answer");
        return guarded("recording attention failed", [&] { return capture(request, cancel); });
    }

    Ablation ablate(const AblationRequest& request, const SamplingSettings& sampling, const std::atomic<bool>* cancel) override {
        return guarded("the stack ablation failed", [&] { return ablation(request, sampling, cancel); });
    }

    InjectionMap measure_injections(const std::atomic<bool>* cancel) override {
        return guarded("measuring the stacks failed", [&] { return injections(cancel); });
    }

    void replay(const Message& user, const std::string& reply_text, const std::vector<TokenId>& reply_tokens) override {
        const auto turns_before = turn_starts_.size();
        try {
            replay_turn(user, reply_text, reply_tokens);
        } catch (...) {
            rewind(turns_before);
            throw;
        }
    }

private:
    void replay_turn(const Message& user, const std::string& reply_text, const std::vector<TokenId>& reply_tokens) {
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
                throw Error(ErrorKind::resources, "", "the restored conversation does not fit in the context of " +
                                                          std::to_string(session_->capacity()) + " tokens");
            (void)session_->extend(reply, nullptr);
            history_.insert(history_.end(), reply.begin(), reply.end());
        });
    }

    struct TurnStart {
        engine::SessionMark session;
        std::size_t history = 0;
    };

    // Prepares a question's tokens (with what closes the previous reply) and remembers where it began.
    engine::PreparedTurn begin_turn(const Message& user) {
        const auto prefix = first_ ? std::vector<TokenId>{} : model_.family_->close_reply_ids();
        auto turn = session_->prepare(user, system_prompt_, first_, prefix);
        const auto turn_tokens = static_cast<std::int64_t>(turn.ids.size());
        if (session_->length() + turn_tokens >= session_->capacity())
            throw Error(ErrorKind::resources, "", "this message needs " + std::to_string(turn_tokens) + " tokens but only " +
                                                      std::to_string(session_->capacity() - session_->length()) +
                                                      " are left in the conversation's context of " +
                                                      std::to_string(session_->capacity()) + "; start a new chat or use smaller images");
        turn_starts_.push_back({session_->mark(), history_.size()});
        first_ = false;
        return turn;
    }

    GenerationResult run(const Message& user, const SamplingSettings& sampling, const GenerationCallbacks& callbacks,
                         const std::atomic<bool>* cancel) {
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
        engine::PreparedTurn turn;
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

    // The latest question's pictures with their plans and where their tokens lie in the conversation.
    std::vector<AttentionImage> latest_images() const {
        const auto& latest = *latest_;
        const auto start = turn_starts_.back().session;
        std::vector<AttentionImage> images;
        std::int64_t column = 0;
        for (std::size_t i = 0; i < latest.turn.images.size(); ++i) {
            const auto& span = latest.turn.images[i];
            AttentionImage image;
            image.image = i < latest.images.size() ? latest.images[i] : RgbImage{};
            image.plan = model_.stack_plan(image.image.width, image.image.height);
            if (image.plan.input_tokens() != span.tokens)
                throw Error(ErrorKind::internal, "", "the stack plan has " + std::to_string(image.plan.input_tokens()) + " tokens for an image of " +
                                                         std::to_string(span.tokens) + " tokens in the sequence");
            image.first_position = start.length + span.offset;
            image.first_column = column;
            column += span.tokens;
            images.push_back(std::move(image));
        }
        return images;
    }

    // Runs `pass` on the cache as it stood before the latest question, then puts the cache back exactly as the
    // conversation left it, whatever `pass` did or threw.
    template <typename Pass>
    auto rerun_latest(Pass&& pass) {
        const auto start = turn_starts_.back().session;
        const auto after = session_->mark();
        auto& cache = session_->cache();
        const auto tail = cache.copy_tail(start.length);
        const auto put_back = [&] {
            session_->rewind(start);
            cache.restore(tail);
            session_->rewind(after);
        };
        try {
            session_->rewind(start);
            auto out = pass();
            put_back();
            return out;
        } catch (...) {
            put_back();
            throw;
        }
    }

    // How many tokens of the latest reply the cache holds (all, unless the context filled before the last ran).
    std::int64_t latest_reply_in_cache() const {
        const auto& latest = *latest_;
        const auto start = turn_starts_.back().session;
        const auto prompt = static_cast<std::int64_t>(latest.turn.ids.size());
        return std::clamp<std::int64_t>(session_->length() - start.length - prompt, 0, static_cast<std::int64_t>(latest.reply.size()));
    }

    // The latest question's stack plan (its first picture's; every picture has the same groups) after the checks
    // that every stack view shares.
    StackPlan stacked_plan(const char* what) const {
        if (!latest_ || turn_starts_.empty())
            throw Error(ErrorKind::config, "", std::string("there is no answer to ") + what + ": ask a question about a picture first");
        const auto& latest = *latest_;
        if (latest.turn.images.empty() || latest.images.empty())
            throw Error(ErrorKind::config, "", std::string("the latest question came with no picture, so there are no stacked groups to ") + what +
                                                   ": tick a page and ask again");
        auto plan = model_.stack_plan(latest.images.front().width, latest.images.front().height);
        if (plan.groups.empty())
            throw Error(ErrorKind::config, "", model_.info_.display_name + " (" + plan.variant + ") adds no stacked groups, so there are none to " + what);
        return plan;
    }

    // Scores the latest reply's first `count` tokens, teacher-forced: prefill (under `edit`) then the reply's
    // tokens, keeping each row's log-probability of the next original token and its margin over the best other.
    // `first_logits`, when given, receives the prefill's logits and `after_prefill` the session's mark after it.
    struct Scores {
        std::vector<double> logprob, margin;
    };
    Scores score_latest(std::int64_t count, nn::StackEdit* edit, torch::Tensor* first_logits, engine::SessionMark* after_prefill,
                        const std::atomic<bool>* cancel) {
        const auto& latest = *latest_;
        const auto usable = model_.tokenizer().size();
        Scores scores;
        const auto score_rows = [&](const torch::Tensor& logits, std::int64_t from) {  // logits [R, V] predict reply[from ..]
            const auto rows = logits.size(0);
            const auto x = logits.narrow(1, 0, std::min<std::int64_t>(logits.size(1), usable));
            std::vector<std::int64_t> targets(latest.reply.begin() + from, latest.reply.begin() + from + rows);
            const auto target = torch::tensor(targets, torch::kLong).unsqueeze(1);
            const auto chosen = x.gather(1, target);
            const auto logprob = x.log_softmax(1).gather(1, target);
            const auto others = x.scatter(1, target, -std::numeric_limits<float>::infinity()).amax(1, true);
            const auto margin = (chosen - others).contiguous();
            const auto lp = logprob.contiguous();
            for (std::int64_t r = 0; r < rows; ++r) {
                scores.logprob.push_back(lp[r][0].item<double>());
                scores.margin.push_back(margin[r][0].item<double>());
            }
        };
        const auto logits = session_->prefill(latest.turn, nullptr, edit);
        if (first_logits != nullptr) *first_logits = logits;
        if (after_prefill != nullptr) *after_prefill = session_->mark();
        if (count == 0) return scores;
        score_rows(logits.unsqueeze(0), 0);
        // Rows of every reply token but the last (whose row predicts the end of the turn), in chunks that bound the
        // logits' memory (rows x vocabulary in fp32).
        constexpr std::int64_t kChunk = 64;
        for (std::int64_t from = 0; from + 1 < count; from += kChunk) {
            if (cancel != nullptr && cancel->load()) throw Error(ErrorKind::cancelled, "", "the stack ablation was stopped");
            const auto n = std::min(kChunk, count - 1 - from);
            const std::vector<TokenId> chunk(latest.reply.begin() + from, latest.reply.begin() + from + n);
            score_rows(session_->extend(chunk, nullptr, true), from + 1);
        }
        return scores;
    }

    Ablation ablation(const AblationRequest& request, const SamplingSettings& sampling, const std::atomic<bool>* cancel) {
        c10::InferenceMode inference;
        const auto begin = std::chrono::steady_clock::now();
        const auto plan = stacked_plan("leave out");
        Ablation out;
        std::vector<std::int64_t> leave_out;
        const auto count = static_cast<int>(plan.groups.size());
        out.groups = request.groups;
        std::sort(out.groups.begin(), out.groups.end());
        out.groups.erase(std::unique(out.groups.begin(), out.groups.end()), out.groups.end());
        for (const auto g : out.groups) {
            if (g < 1 || g > count)
                throw Error(ErrorKind::config, "", "group " + std::to_string(g) + " is not in the stack plan: " + plan.variant + " has groups 1 .. " +
                                                       std::to_string(count));
            leave_out.push_back(g - 1);
            out.labels.push_back(plan.groups[static_cast<std::size_t>(g - 1)].label);
        }

        const auto& latest = *latest_;
        const auto scored = latest_reply_in_cache();
        out.tokens = latest.reply;
        out.text = model_.tokenizer().decode(latest.reply);
        const nn::CancelScope stoppable(cancel);
        if (!latest_scores_ || static_cast<std::int64_t>(latest_scores_->logprob.size()) != scored)
            latest_scores_ = rerun_latest([&] { return score_latest(scored, nullptr, nullptr, nullptr, cancel); });
        nn::StackEdit edit(leave_out, false);
        const auto ablated = rerun_latest([&] {
            torch::Tensor first;
            engine::SessionMark after_prefill;
            auto scores = score_latest(scored, &edit, &first, &after_prefill, cancel);
            if (request.answer_again) {
                session_->rewind(after_prefill);
                const auto& begun = turn_starts_.back();
                std::vector<TokenId> history(history_.begin(), history_.begin() + static_cast<std::ptrdiff_t>(begun.history + latest.turn.ids.size()));
                GenerationResult result;
                generate(first, sampling, history, {}, cancel, std::chrono::steady_clock::now(), result);
                if (result.stop == StopReason::cancelled) throw Error(ErrorKind::cancelled, "", "the stack ablation was stopped");
                out.ablated_tokens = result.tokens;
                out.ablated_text = model_.tokenizer().decode(result.tokens);  // as the original is decoded, whole
                out.ablated_stop = std::string(to_string(result.stop));
            }
            return scores;
        });
        const auto& tokenizer = model_.tokenizer();
        for (std::int64_t i = 0; i < scored; ++i) {
            const auto k = static_cast<std::size_t>(i);
            out.changes.push_back({latest.reply[k], token_text(tokenizer, latest.reply[k]), latest_scores_->logprob[k], ablated.logprob[k],
                                   latest_scores_->margin[k], ablated.margin[k]});
        }
        out.milliseconds = elapsed_ms(begin);
        return out;
    }

    InjectionMap injections(const std::atomic<bool>* cancel) {
        c10::InferenceMode inference;
        const auto begin = std::chrono::steady_clock::now();
        const auto plan = stacked_plan("measure");
        InjectionMap map;
        map.family = model_.info_.family;
        map.variant = plan.variant;
        map.images = latest_images();
        const nn::CancelScope stoppable(cancel);
        nn::StackEdit with(std::vector<std::int64_t>{}, true);
        rerun_latest([&] { return session_->prefill(latest_->turn, nullptr, &with); });
        const auto top = with.top();
        const auto top_norm = top.norm(2, -1);
        for (const auto& join : with.joins()) {
            const auto& group = plan.groups[static_cast<std::size_t>(join.group)];
            GroupInjection injection;
            injection.group = static_cast<int>(join.group) + 1;
            injection.label = group.label;
            injection.source = group.source;
            injection.tower = group.tower;
            injection.layer = group.layer;
            injection.before_layer = group.before_layer;
            for (std::size_t t = 0; t < join.added_norm.size(); ++t)
                injection.relative_change.push_back(join.hidden_norm[t] > 0 ? join.added_norm[t] / join.hidden_norm[t] : 0.0f);
            injection.cosine = join.cosine;
            if (cancel != nullptr && cancel->load()) throw Error(ErrorKind::cancelled, "", "measuring the stacks was stopped");
            nn::StackEdit without(std::vector<std::int64_t>{join.group}, false);
            rerun_latest([&] { return session_->prefill(latest_->turn, nullptr, &without); });
            const auto change = ((without.top() - top).norm(2, -1) / top_norm.clamp_min(1e-30)).contiguous();
            injection.change_at_top.assign(change.data_ptr<float>(), change.data_ptr<float>() + change.numel());
            map.groups.push_back(std::move(injection));
        }
        map.milliseconds = elapsed_ms(begin);
        return map;
    }

    // Samples a reply from `logits` (the prompt's last position) on, into `result`: streams its text, stops at the
    // end of the turn, the token limit, a full context or `cancel`, and times each step. `history` (every id in
    // the cache, for the penalties) grows with the reply. The last sampled token is run too, so the cache holds
    // the whole reply.
    void generate(torch::Tensor logits, const SamplingSettings& sampling, std::vector<TokenId>& history,
                  const GenerationCallbacks& callbacks, const std::atomic<bool>* cancel,
                  std::chrono::steady_clock::time_point start, GenerationResult& result) {
        engine::Sampler sampler(sampling);
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

    AttentionCapture capture(const AttentionRequest& request, const std::atomic<bool>* cancel) {
        c10::InferenceMode inference;
        const auto& latest = *latest_;
        const auto& turn = latest.turn;
        if (turn.images.empty())
            throw Error(ErrorKind::config, "", "the latest question came with no picture, so there is no attention over an image to show: "
                                               "tick a page and ask again");
        const auto start = turn_starts_.back().session;
        const auto after = session_->mark();
        const auto prompt = static_cast<std::int64_t>(turn.ids.size());
        // The reply tokens the cache holds (all of them, unless the context filled before the last one ran).
        const auto reply_in_cache = std::clamp<std::int64_t>(after.length - start.length - prompt, 0, static_cast<std::int64_t>(latest.reply.size()));
        const auto& tokenizer = model_.tokenizer();

        AttentionCapture capture;
        capture.family = model_.info_.family;
        capture.language_layers = model_.family_->language_layers();
        capture.heads = session_->heads();
        if (request.layers.empty()) {
            for (std::int64_t l = 0; l < capture.language_layers; ++l) capture.layers.push_back(l);
        } else {
            capture.layers = request.layers;
            std::sort(capture.layers.begin(), capture.layers.end());
            capture.layers.erase(std::unique(capture.layers.begin(), capture.layers.end()), capture.layers.end());
            if (capture.layers.front() < 0 || capture.layers.back() >= capture.language_layers)
                throw Error(ErrorKind::config, "", "layer " + std::to_string(capture.layers.front() < 0 ? capture.layers.front() : capture.layers.back()) +
                                                       " is outside the language model's layers 0 .. " + std::to_string(capture.language_layers - 1));
        }

        capture.images = latest_images();
        std::vector<std::int64_t> visual_positions;
        for (const auto& image : capture.images) {
            for (std::int64_t t = 0; t < image.plan.input_tokens(); ++t) visual_positions.push_back(image.first_position + t);
            capture.visual_tokens += image.plan.input_tokens();
            capture.variant = image.plan.variant;
        }

        if (request.question) {
            auto first = static_cast<std::int64_t>(turn.prefix_tokens);
            if (!turn.images.empty()) first = turn.images.back().offset + turn.images.back().tokens;
            for (auto i = first; i < prompt; ++i) {
                const auto id = turn.ids[static_cast<std::size_t>(i)];
                capture.queries.push_back({AttentionQuery::Kind::question, start.length + i, id, token_text(tokenizer, id)});
            }
        }
        if (request.answer) {
            // Reply token i came from the row before it: the prompt's last position for the first one.
            for (std::int64_t i = 0; i < static_cast<std::int64_t>(latest.reply.size()) && i <= reply_in_cache; ++i) {
                const auto id = latest.reply[static_cast<std::size_t>(i)];
                capture.queries.push_back({AttentionQuery::Kind::answer, start.length + prompt - 1 + i, id, token_text(tokenizer, id)});
            }
        }
        std::sort(capture.queries.begin(), capture.queries.end(), [](const auto& a, const auto& b) { return a.position < b.position; });
        if (capture.queries.empty()) throw Error(ErrorKind::config, "", "no tokens were chosen to record the attention of");

        const auto needed = AttentionCapture::bytes_needed(capture.queries.size(), capture.layers.size(), capture.heads, capture.visual_tokens);
        if (needed > request.memory_cap_bytes)
            throw Error(ErrorKind::resources, "", "recording " + std::to_string(capture.queries.size()) + " tokens x " +
                                                      std::to_string(capture.layers.size()) + " layers x " + std::to_string(capture.heads) +
                                                      " heads over " + std::to_string(capture.visual_tokens) + " image tokens needs " +
                                                      human_bytes(needed) + ", over the cap of " + human_bytes(request.memory_cap_bytes) +
                                                      ": choose fewer tokens or layers, or raise the cap");
        if (const auto available = available_memory_bytes(); available > 0 && needed > available)
            throw Error(ErrorKind::resources, "", "recording " + std::to_string(capture.queries.size()) + " tokens x " +
                                                      std::to_string(capture.layers.size()) + " layers needs " + human_bytes(needed) +
                                                      ", and only " + human_bytes(available) +
                                                      " of memory is available: choose fewer tokens or layers, or close other programs");

        std::vector<std::int64_t> rows;
        for (const auto& q : capture.queries) rows.push_back(q.position);
        nn::AttentionProbe probe(rows, visual_positions, capture.layers, capture.heads);

        // Run the exchange again from where it began; the cache ends exactly as generation left it.
        rerun_latest([&] {
            (void)session_->prefill(turn, &probe, nullptr);
            if (cancel != nullptr && cancel->load()) throw Error(ErrorKind::cancelled, "", "recording attention was stopped");
            if (reply_in_cache > 0)
                (void)session_->extend(std::vector<TokenId>(latest.reply.begin(), latest.reply.begin() + reply_in_cache), &probe);
            return true;
        });
        if (!probe.complete()) throw Error(ErrorKind::internal, "", "the attention probe missed rows it was asked for");
        capture.visual = probe.chosen();
        capture.elsewhere = probe.elsewhere();
        return capture;
    }

    ModelImpl& model_;
    std::string system_prompt_;
    std::unique_ptr<engine::FamilySession> session_;
    std::vector<TokenId> history_;  // every id in the cache, for the repetition penalty
    std::vector<TurnStart> turn_starts_;
    bool first_ = true;
    // The latest exchange as it ran: what a capture pass needs to run it again.
    struct Latest {
        engine::PreparedTurn turn;
        std::vector<TokenId> reply;
        std::vector<RgbImage> images;
    };
    std::optional<Latest> latest_;
    // The latest reply's tokens scored as generated (no group left out): computed by the first ablation, kept
    // for the next ones until the latest exchange changes.
    std::optional<Scores> latest_scores_;
};

std::unique_ptr<Conversation> ModelImpl::start_conversation(const std::string& system_prompt) {
    return std::make_unique<ConversationImpl>(*this, system_prompt);
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::filesystem::path& model_path, const EngineOptions& options) {
    const auto folder = resolve_model_path(model_path);
    const auto report = inspect_model_folder(folder);
    if (!report.problems.empty()) {
        std::string all;
        for (const auto& p : report.problems) all += "\n  - " + p;
        throw Error(ErrorKind::config, folder.string(), "cannot load this model folder:" + all);
    }
    if (!report.runnable) throw Error(ErrorKind::unsupported, folder.string(), report.display_name + ": " + report.not_runnable_reason);

    const bool cuda = options.device == DeviceKind::cuda;
    const auto matrices = engine::matrix_format(options.weights);
    if (matrices && cuda)
        throw Error(ErrorKind::unsupported, "", std::string(quant::traits(*matrices).name) + " weights run on the CPU only in this version");
    const auto compute = resolve_compute(options.compute, options.device);
    if (cuda && !cuda_available())
        throw Error(ErrorKind::unsupported, "", "CUDA was asked for, but this LibTorch has no CUDA or no GPU is visible");
    // Refuse before allocating anything when the weights and cache cannot fit.
    const auto weight_bytes = weights_memory_bytes(report, options.compute, options.weights, options.device);
    // The report counts a bf16 cache; an fp32 one (f32 compute, or LibTorch 1.13's attention) takes twice that.
    const bool fp32_cache = nn::kv_cache_dtype(compute == ComputeType::f32 ? torch::kFloat32 : torch::kBFloat16) == torch::kFloat32;
    const auto needed = weight_bytes + report.kv_cache_bytes_per_token * static_cast<std::uint64_t>(options.context_tokens) *
                                           (fp32_cache ? 2 : 1) +
                        report.cpu.workspace_bytes;
    if (!cuda) {
        const auto available = available_memory_bytes();
        if (available > 0 && needed > available)
            throw Error(ErrorKind::resources, folder.string(),
                        "this model needs about " + human_bytes(needed) + " of memory (weights " + human_bytes(weight_bytes) +
                            ", context of " + std::to_string(options.context_tokens) + " tokens, activations) but only " +
                            human_bytes(available) + " is available");
    }

    const int threads = options.threads > 0 ? options.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(threads);

    return guarded("loading failed", [&]() -> std::unique_ptr<Model> {
        c10::InferenceMode inference;
        const auto report_progress = [&](double fraction) {
            if (options.on_load_progress) options.on_load_progress(fraction);
        };
        report_progress(0.0);
        auto model = std::make_unique<ModelImpl>();
        model->tokenizer_ = Tokenizer::load(folder);
        report_progress(0.05);
        model->context_tokens_ = options.context_tokens;
        model->min_image_pixels_ = options.min_image_pixels;
        model->max_image_pixels_ = options.max_image_pixels > 0 ? options.max_image_pixels : automatic_image_pixels(options.device, threads);
        const auto dtype = compute == ComputeType::f32 ? c10::kFloat : c10::kBFloat16;
        const auto device = cuda ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
        // The weights are most of the work: 5 % .. 99 % follows the bytes read.
        const auto weights_progress = [&](std::uint64_t done, std::uint64_t total) {
            if (total > 0) report_progress(0.05 + 0.94 * static_cast<double>(done) / static_cast<double>(total));
        };
        const auto* runtime = engine::runtime_of(report.family);
        if (runtime == nullptr)
            throw Error(ErrorKind::unsupported, folder.string(), report.display_name + " cannot be run by this version yet (inspect only)");
        engine::OpenRequest request{dtype, device, weights_progress, options.min_image_pixels, options.max_image_pixels,
                                    model->max_image_pixels_, matrices};
        auto opened = runtime->open(folder, request, *model->tokenizer_);
        model->family_ = std::move(opened.family);
        model->max_image_pixels_ = opened.max_image_pixels;
        model->info_ = {report.family, report.display_name, folder, cuda ? "cuda:0" : "cpu",
                        (matrices ? std::string(quant::traits(*matrices).name) + " + " : std::string()) + (compute == ComputeType::f32 ? "f32" : "bf16"),
                        report.total_parameters, model->context_tokens_,
                        model->max_image_pixels_};
        if (std::filesystem::exists(folder / "generation_config.json")) {
            const auto g = read_generation_config(folder / "generation_config.json");
            if (g.do_sample) {
                model->defaults_.temperature = g.temperature.value_or(1.0);
                model->defaults_.top_k = g.top_k.value_or(0);
                model->defaults_.top_p = g.top_p.value_or(1.0);
            }
            model->defaults_.repetition_penalty = g.repetition_penalty.value_or(1.0);
            if (g.max_new_tokens) model->defaults_.max_new_tokens = *g.max_new_tokens;
        }
        report_progress(1.0);
        return model;
    });
}

}  // namespace deepstack

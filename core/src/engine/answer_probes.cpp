// What the attention and stack views ask of the latest answer: the exchange is run again from where it began
// (with a probe on the chosen rows, or with stacked groups left out or measured where they join) and the cache is
// put back exactly as the conversation left it.
#include "engine/conversation.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <string_view>

#include "deepstack/system.h"
#include "engine/clock.h"
#include "nn/attention_probe.h"
#include "nn/cancel.h"
#include "nn/stack_edit.h"

namespace deepstack::engine {
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
}  // namespace

AttentionCapture ConversationImpl::capture_attention(const AttentionRequest& request, const std::atomic<bool>* cancel) {
    if (!latest_ || turn_starts_.empty())
        throw Error(ErrorKind::config, "",
                    "there is no answer to look into: attention is recorded for the latest question and answer");
    return guarded("recording attention failed", [&] { return capture(request, cancel); });
}

Ablation ConversationImpl::ablate(const AblationRequest& request, const SamplingSettings& sampling,
                                  const std::atomic<bool>* cancel) {
    return guarded("the stack ablation failed", [&] { return ablation(request, sampling, cancel); });
}

InjectionMap ConversationImpl::measure_injections(const std::atomic<bool>* cancel) {
    return guarded("measuring the stacks failed", [&] { return injections(cancel); });
}

std::vector<AttentionImage> ConversationImpl::latest_images() const {
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
            throw Error(ErrorKind::internal, "",
                        "the stack plan has " + std::to_string(image.plan.input_tokens()) + " tokens for an image of " +
                            std::to_string(span.tokens) + " tokens in the sequence");
        image.first_position = start.length + span.offset;
        image.first_column = column;
        column += span.tokens;
        images.push_back(std::move(image));
    }
    return images;
}

template <typename Pass>
auto ConversationImpl::rerun_latest(Pass&& pass) {
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

std::int64_t ConversationImpl::latest_reply_in_cache() const {
    const auto& latest = *latest_;
    const auto start = turn_starts_.back().session;
    const auto prompt = static_cast<std::int64_t>(latest.turn.ids.size());
    return std::clamp<std::int64_t>(session_->length() - start.length - prompt, 0,
                                    static_cast<std::int64_t>(latest.reply.size()));
}

StackPlan ConversationImpl::stacked_plan(const char* what) const {
    if (!latest_ || turn_starts_.empty())
        throw Error(ErrorKind::config, "",
                    std::string("there is no answer to ") + what + ": ask a question about a picture first");
    const auto& latest = *latest_;
    if (latest.turn.images.empty() || latest.images.empty())
        throw Error(ErrorKind::config, "",
                    std::string("the latest question came with no picture, so there are no stacked groups to ") + what +
                        ": tick a page and ask again");
    auto plan = model_.stack_plan(latest.images.front().width, latest.images.front().height);
    if (plan.groups.empty())
        throw Error(
            ErrorKind::config, "",
            model_.info_.display_name + " (" + plan.variant + ") adds no stacked groups, so there are none to " + what);
    return plan;
}

ConversationImpl::Scores ConversationImpl::score_latest(std::int64_t count, nn::StackEdit* edit,
                                                        torch::Tensor* first_logits, SessionMark* after_prefill,
                                                        const std::atomic<bool>* cancel) {
    const auto& latest = *latest_;
    const auto usable = model_.tokenizer().size();
    Scores scores;
    const auto score_rows = [&](const torch::Tensor& logits,
                                std::int64_t from) {  // logits [R, V] predict reply[from ..]
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
        if (cancel != nullptr && cancel->load())
            throw Error(ErrorKind::cancelled, "", "the stack ablation was stopped");
        const auto n = std::min(kChunk, count - 1 - from);
        const std::vector<TokenId> chunk(latest.reply.begin() + from, latest.reply.begin() + from + n);
        score_rows(session_->extend(chunk, nullptr, true), from + 1);
    }
    return scores;
}

Ablation ConversationImpl::ablation(const AblationRequest& request, const SamplingSettings& sampling,
                                    const std::atomic<bool>* cancel) {
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
            throw Error(ErrorKind::config, "",
                        "group " + std::to_string(g) + " is not in the stack plan: " + plan.variant +
                            " has groups 1 .. " + std::to_string(count));
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
        SessionMark after_prefill;
        auto scores = score_latest(scored, &edit, &first, &after_prefill, cancel);
        if (request.answer_again) {
            session_->rewind(after_prefill);
            const auto& begun = turn_starts_.back();
            std::vector<TokenId> history(
                history_.begin(),
                history_.begin() + static_cast<std::ptrdiff_t>(begun.history + latest.turn.ids.size()));
            GenerationResult result;
            generate(first, sampling, history, {}, cancel, std::chrono::steady_clock::now(), result);
            if (result.stop == StopReason::cancelled)
                throw Error(ErrorKind::cancelled, "", "the stack ablation was stopped");
            out.ablated_tokens = result.tokens;
            out.ablated_text = model_.tokenizer().decode(result.tokens);  // as the original is decoded, whole
            out.ablated_stop = std::string(to_string(result.stop));
        }
        return scores;
    });
    const auto& tokenizer = model_.tokenizer();
    for (std::int64_t i = 0; i < scored; ++i) {
        const auto k = static_cast<std::size_t>(i);
        out.changes.push_back({latest.reply[k], token_text(tokenizer, latest.reply[k]), latest_scores_->logprob[k],
                               ablated.logprob[k], latest_scores_->margin[k], ablated.margin[k]});
    }
    out.milliseconds = elapsed_ms(begin);
    return out;
}

InjectionMap ConversationImpl::injections(const std::atomic<bool>* cancel) {
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
            injection.relative_change.push_back(join.hidden_norm[t] > 0 ? join.added_norm[t] / join.hidden_norm[t]
                                                                        : 0.0f);
        injection.cosine = join.cosine;
        if (cancel != nullptr && cancel->load())
            throw Error(ErrorKind::cancelled, "", "measuring the stacks was stopped");
        nn::StackEdit without(std::vector<std::int64_t>{join.group}, false);
        rerun_latest([&] { return session_->prefill(latest_->turn, nullptr, &without); });
        const auto change = ((without.top() - top).norm(2, -1) / top_norm.clamp_min(1e-30)).contiguous();
        injection.change_at_top.assign(change.data_ptr<float>(), change.data_ptr<float>() + change.numel());
        map.groups.push_back(std::move(injection));
    }
    map.milliseconds = elapsed_ms(begin);
    return map;
}

AttentionCapture ConversationImpl::capture(const AttentionRequest& request, const std::atomic<bool>* cancel) {
    c10::InferenceMode inference;
    const auto& latest = *latest_;
    const auto& turn = latest.turn;
    if (turn.images.empty())
        throw Error(ErrorKind::config, "",
                    "the latest question came with no picture, so there is no attention over an image to show: "
                    "tick a page and ask again");
    const auto start = turn_starts_.back().session;
    const auto after = session_->mark();
    const auto prompt = static_cast<std::int64_t>(turn.ids.size());
    // The reply tokens the cache holds (all of them, unless the context filled before the last one ran).
    const auto reply_in_cache = std::clamp<std::int64_t>(after.length - start.length - prompt, 0,
                                                         static_cast<std::int64_t>(latest.reply.size()));
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
            throw Error(
                ErrorKind::config, "",
                "layer " + std::to_string(capture.layers.front() < 0 ? capture.layers.front() : capture.layers.back()) +
                    " is outside the language model's layers 0 .. " + std::to_string(capture.language_layers - 1));
    }

    capture.images = latest_images();
    std::vector<std::int64_t> visual_positions;
    for (const auto& image : capture.images) {
        for (std::int64_t t = 0; t < image.plan.input_tokens(); ++t)
            visual_positions.push_back(image.first_position + t);
        capture.visual_tokens += image.plan.input_tokens();
        capture.variant = image.plan.variant;
    }

    if (request.question) {
        auto first = static_cast<std::int64_t>(turn.prefix_tokens);
        if (!turn.images.empty()) first = turn.images.back().offset + turn.images.back().tokens;
        for (auto i = first; i < prompt; ++i) {
            const auto id = turn.ids[static_cast<std::size_t>(i)];
            capture.queries.push_back(
                {AttentionQuery::Kind::question, start.length + i, id, token_text(tokenizer, id)});
        }
    }
    if (request.answer) {
        // Reply token i came from the row before it: the prompt's last position for the first one.
        for (std::int64_t i = 0; i < static_cast<std::int64_t>(latest.reply.size()) && i <= reply_in_cache; ++i) {
            const auto id = latest.reply[static_cast<std::size_t>(i)];
            capture.queries.push_back(
                {AttentionQuery::Kind::answer, start.length + prompt - 1 + i, id, token_text(tokenizer, id)});
        }
    }
    std::sort(capture.queries.begin(), capture.queries.end(),
              [](const auto& a, const auto& b) { return a.position < b.position; });
    if (capture.queries.empty()) throw Error(ErrorKind::config, "", "no tokens were chosen to record the attention of");

    const auto needed = AttentionCapture::bytes_needed(capture.queries.size(), capture.layers.size(), capture.heads,
                                                       capture.visual_tokens);
    if (needed > request.memory_cap_bytes)
        throw Error(ErrorKind::resources, "",
                    "recording " + std::to_string(capture.queries.size()) + " tokens x " +
                        std::to_string(capture.layers.size()) + " layers x " + std::to_string(capture.heads) +
                        " heads over " + std::to_string(capture.visual_tokens) + " image tokens needs " +
                        human_bytes(needed) + ", over the cap of " + human_bytes(request.memory_cap_bytes) +
                        ": choose fewer tokens or layers, or raise the cap");
    if (const auto available = available_memory_bytes(); available > 0 && needed > available)
        throw Error(ErrorKind::resources, "",
                    "recording " + std::to_string(capture.queries.size()) + " tokens x " +
                        std::to_string(capture.layers.size()) + " layers needs " + human_bytes(needed) + ", and only " +
                        human_bytes(available) +
                        " of memory is available: choose fewer tokens or layers, or close other programs");

    std::vector<std::int64_t> rows;
    for (const auto& q : capture.queries) rows.push_back(q.position);
    nn::AttentionProbe probe(rows, visual_positions, capture.layers, capture.heads);

    // Run the exchange again from where it began; the cache ends exactly as generation left it.
    rerun_latest([&] {
        (void)session_->prefill(turn, &probe, nullptr);
        if (cancel != nullptr && cancel->load())
            throw Error(ErrorKind::cancelled, "", "recording attention was stopped");
        if (reply_in_cache > 0)
            (void)session_->extend(std::vector<TokenId>(latest.reply.begin(), latest.reply.begin() + reply_in_cache),
                                   &probe);
        return true;
    });
    if (!probe.complete()) throw Error(ErrorKind::internal, "", "the attention probe missed rows it was asked for");
    capture.visual = probe.chosen();
    capture.elsewhere = probe.elsewhere();
    return capture;
}

}  // namespace deepstack::engine

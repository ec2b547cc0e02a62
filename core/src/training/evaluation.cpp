// Held-out exact-match accuracy of a model folder, through the public engine: what a user of the app would get.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "deepstack/attention.h"
#include "deepstack/engine.h"
#include "deepstack/error.h"
#include "deepstack/training.h"
#include "training/side_by_side.h"

namespace deepstack {

namespace {

// What one page got, kept until the pages are scored in their order (side by side, workers finish them in any).
struct PageAnswers {
    std::uint64_t index = 0;
    std::vector<SyntheticQuestion> questions;
    std::vector<std::string> answers;                        // one per question
    std::vector<std::optional<AttentionCapture>> captures;   // one per question, where its field attention was asked
    std::optional<SyntheticQuestion> reading_question;
    std::string reading;
};

PageAnswers answer_page(Model& model, std::uint64_t index, const EvaluationOptions& o) {
    SamplingSettings greedy;
    greedy.max_new_tokens = o.max_new_tokens;
    auto page = synthetic_page(SyntheticSplit::held_out, index, o.page_options);
    PageAnswers got;
    got.index = index;
    for (const auto& q : page.questions) {
        auto chat = model.start_conversation();
        got.answers.push_back(chat->send({Message::Role::user, q.question, {page.image}}, greedy).text);
        got.captures.emplace_back();
        if (o.field_attention && q.small_print && !q.region.empty()) {
            AttentionRequest request;
            request.question = false;
            got.captures.back() = chat->capture_attention(request);
        }
    }
    if (o.reading) {
        SamplingSettings reading = greedy;
        reading.max_new_tokens = o.max_reading_tokens;
        auto chat = model.start_conversation();
        got.reading = chat->send({Message::Role::user, page.reading.question, {page.image}}, reading).text;
        got.reading_question = std::move(page.reading);
    }
    got.questions = std::move(page.questions);
    return got;
}

}  // namespace

EvaluationResult evaluate(const std::filesystem::path& model_folder, const EvaluationOptions& o) {
    if (o.page_workers < 1) throw Error(ErrorKind::config, "", "evaluation takes 1 or more page workers, not " + std::to_string(o.page_workers));
    const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const auto workers = o.device == DeviceKind::cuda ? 1 : static_cast<int>(std::clamp<std::int64_t>(o.page_workers, 1, std::max<std::int64_t>(1, o.pages)));
    EngineOptions engine;
    engine.threads = std::max(1, threads / workers);
    engine.device = o.device;
    engine.compute = ComputeType::f32;
    engine.context_tokens = 1024;
    // A model per worker: a model answers one conversation at a time.
    std::vector<std::unique_ptr<Model>> models;
    for (int w = 0; w < workers; ++w) models.push_back(Model::load(model_folder, engine));

    std::vector<PageAnswers> pages(static_cast<std::size_t>(std::max<std::int64_t>(0, o.pages)));
    std::atomic<std::int64_t> done{0};
    std::mutex progress;
    const auto answer = [&](int worker, std::int64_t i) {
        pages[static_cast<std::size_t>(i)] = answer_page(*models[static_cast<std::size_t>(worker)], o.first_page + static_cast<std::uint64_t>(i), o);
        const auto finished = ++done;
        if (o.on_progress) {
            const std::lock_guard lock(progress);
            o.on_progress(finished, o.pages);
        }
    };
    if (workers == 1) {
        for (std::int64_t i = 0; i < o.pages; ++i) answer(0, i);
    } else {
        side_by_side(o.pages, workers, engine.threads, answer);
    }

    EvaluationScorer scorer;
    for (const auto& page : pages) {
        for (std::size_t q = 0; q < page.questions.size(); ++q) {
            scorer.add_answer(page.index, page.questions[q], page.answers[q]);
            if (page.captures[q]) scorer.add_field_attention(*page.captures[q], page.questions[q].region);
        }
        if (page.reading_question) scorer.add_reading(page.index, *page.reading_question, page.reading);
    }
    auto result = scorer.result();
    result.first_page = o.first_page;
    result.pages = o.pages;
    result.page_size = o.page_options.page_size;
    result.text_height = o.page_options.field_text_height;
    return result;
}

std::string to_json(const EvaluationResult& r) {
    const auto count = [](const EvaluationCount& c) { return nlohmann::ordered_json{{"asked", c.asked}, {"correct", c.correct}, {"accuracy", c.accuracy()}}; };
    nlohmann::ordered_json out{{"split", "held-out"}, {"first_page", r.first_page}, {"pages", r.pages}, {"page_size", r.page_size}, {"text_height", r.text_height},
                               {"all", count(r.all)}, {"small_print", count(r.small_print)}};
    for (const auto& [kind, c] : r.kinds) out["kinds"][kind] = count(c);
    if (!r.field_attention.empty()) {
        out["field_attention"]["questions"] = r.field_questions;
        for (const auto& f : r.field_attention)
            out["field_attention"]["layers"].push_back({{"layer", f.layer}, {"field_token_share", f.field_token_share},
                                                        {"mass_on_field", f.mass_on_field}, {"top_token_on_field", f.top_token_on_field}});
    }
    if (r.readings > 0) {
        out["reading"] = {{"pages", r.readings}, {"exact", r.readings_exact}, {"character_similarity", r.reading_similarity}};
        for (const auto& m : r.reading_samples)
            out["reading"]["samples"].push_back({{"page", m.page}, {"question", m.question}, {"expected", m.expected}, {"answered", m.answered}});
    }
    for (const auto& m : r.misses)
        out["misses"].push_back({{"page", m.page}, {"question", m.question}, {"expected", m.expected}, {"answered", m.answered}});
    return out.dump(2);
}

}  // namespace deepstack

// Held-out exact-match accuracy of a model folder, through the public engine: what a user of the app would get.
#include <nlohmann/json.hpp>

#include "deepstack/attention.h"
#include "deepstack/engine.h"
#include "deepstack/training.h"

namespace deepstack {

EvaluationResult evaluate(const std::filesystem::path& model_folder, const EvaluationOptions& o) {
    EngineOptions engine;
    engine.threads = o.threads;
    engine.device = o.device;
    engine.compute = ComputeType::f32;
    engine.context_tokens = 1024;
    const auto model = Model::load(model_folder, engine);
    SamplingSettings greedy;
    greedy.max_new_tokens = o.max_new_tokens;
    EvaluationScorer scorer;
    for (std::int64_t i = 0; i < o.pages; ++i) {
        const auto index = o.first_page + static_cast<std::uint64_t>(i);
        const auto page = synthetic_page(SyntheticSplit::held_out, index, o.page_options);
        for (const auto& q : page.questions) {
            auto chat = model->start_conversation();
            scorer.add_answer(index, q, chat->send({Message::Role::user, q.question, {page.image}}, greedy).text);
            if (o.field_attention && q.small_print && !q.region.empty()) {
                AttentionRequest request;
                request.question = false;
                scorer.add_field_attention(chat->capture_attention(request), q.region);
            }
        }
        if (o.reading) {
            SamplingSettings reading = greedy;
            reading.max_new_tokens = o.max_reading_tokens;
            auto chat = model->start_conversation();
            scorer.add_reading(index, page.reading, chat->send({Message::Role::user, page.reading.question, {page.image}}, reading).text);
        }
        if (o.on_progress) o.on_progress(i + 1, o.pages);
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

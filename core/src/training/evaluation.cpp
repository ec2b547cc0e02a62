// Held-out exact-match accuracy of a model folder, through the public engine: what a user of the app would get.
#include <map>

#include <nlohmann/json.hpp>

#include "deepstack/engine.h"
#include "deepstack/training.h"

namespace deepstack {

namespace {
std::string trimmed(const std::string& s) {
    const auto begin = s.find_first_not_of(" \t\n");
    if (begin == std::string::npos) return {};
    return s.substr(begin, s.find_last_not_of(" \t\n") - begin + 1);
}
}  // namespace

EvaluationResult evaluate(const std::filesystem::path& model_folder, const EvaluationOptions& o) {
    EngineOptions engine;
    engine.threads = o.threads;
    engine.compute = ComputeType::f32;
    engine.context_tokens = 1024;
    const auto model = Model::load(model_folder, engine);
    SamplingSettings greedy;
    greedy.max_new_tokens = o.max_new_tokens;
    EvaluationResult result;
    result.first_page = o.first_page;
    result.pages = o.pages;
    result.page_size = o.page_options.page_size;
    std::map<std::string, EvaluationCount> kinds;
    for (std::int64_t i = 0; i < o.pages; ++i) {
        const auto index = o.first_page + static_cast<std::uint64_t>(i);
        const auto page = synthetic_page(SyntheticSplit::held_out, index, o.page_options);
        for (const auto& q : page.questions) {
            auto chat = model->start_conversation();
            const auto answer = chat->send({Message::Role::user, q.question, {page.image}}, greedy);
            const bool right = trimmed(answer.text) == q.answer;
            for (auto* count : {&result.all, &kinds[q.kind]}) {
                ++count->asked;
                count->correct += right ? 1 : 0;
            }
            if (q.small_print) {
                ++result.small_print.asked;
                result.small_print.correct += right ? 1 : 0;
            }
            if (!right && result.misses.size() < 20) result.misses.push_back({index, q.question, q.answer, answer.text});
        }
        if (o.on_progress) o.on_progress(i + 1, o.pages);
    }
    result.kinds.assign(kinds.begin(), kinds.end());
    return result;
}

std::string to_json(const EvaluationResult& r) {
    const auto count = [](const EvaluationCount& c) { return nlohmann::ordered_json{{"asked", c.asked}, {"correct", c.correct}, {"accuracy", c.accuracy()}}; };
    nlohmann::ordered_json out{{"split", "held-out"}, {"first_page", r.first_page}, {"pages", r.pages}, {"page_size", r.page_size},
                               {"all", count(r.all)}, {"small_print", count(r.small_print)}};
    for (const auto& [kind, c] : r.kinds) out["kinds"][kind] = count(c);
    for (const auto& m : r.misses)
        out["misses"].push_back({{"page", m.page}, {"question", m.question}, {"expected", m.expected}, {"answered", m.answered}});
    return out.dump(2);
}

}  // namespace deepstack

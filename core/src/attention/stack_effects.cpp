// The arithmetic and the exports of the stack views; the passes that measure live in engine/engine.cpp.
#include "deepstack/stack_effects.h"

#include <algorithm>
#include <numeric>

#include <nlohmann/json.hpp>

namespace deepstack {

double Ablation::mean_logprob_change() const {
    if (changes.empty()) return 0;
    double sum = 0;
    for (const auto& c : changes) sum += c.ablated_logprob - c.logprob;
    return sum / static_cast<double>(changes.size());
}

double Ablation::largest_logprob_drop() const {
    double drop = 0;
    for (const auto& c : changes) drop = std::min(drop, c.ablated_logprob - c.logprob);
    return drop;
}

int Ablation::flipped_tokens() const {
    return static_cast<int>(std::count_if(changes.begin(), changes.end(), [](const TokenChange& c) { return c.flipped(); }));
}

std::int64_t Ablation::first_difference() const {
    const auto n = std::min(tokens.size(), ablated_tokens.size());
    for (std::size_t i = 0; i < n; ++i)
        if (tokens[i] != ablated_tokens[i]) return static_cast<std::int64_t>(i);
    return tokens.size() == ablated_tokens.size() ? -1 : static_cast<std::int64_t>(n);
}

namespace {
double mean(const std::vector<float>& values) {
    return values.empty() ? 0.0 : std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}
}  // namespace

double GroupInjection::mean_relative_change() const { return mean(relative_change); }
double GroupInjection::mean_change_at_top() const { return mean(change_at_top); }

std::string ablation_json(const Ablation& a) {
    nlohmann::ordered_json changes = nlohmann::ordered_json::array();
    for (const auto& c : a.changes)
        changes.push_back({{"token", c.token},
                           {"text", c.text},
                           {"logprob", c.logprob},
                           {"ablated_logprob", c.ablated_logprob},
                           {"margin", c.margin},
                           {"ablated_margin", c.ablated_margin},
                           {"flipped", c.flipped()}});
    nlohmann::ordered_json out{{"format", "deepstack-studio-ablation"},
                               {"version", 1},
                               {"groups", a.groups},
                               {"labels", a.labels},
                               {"text", a.text},
                               {"tokens", a.tokens},
                               {"ablated_text", a.ablated_text},
                               {"ablated_tokens", a.ablated_tokens},
                               {"ablated_stop", a.ablated_stop},
                               {"first_difference", a.first_difference()},
                               {"mean_logprob_change", a.mean_logprob_change()},
                               {"largest_logprob_drop", a.largest_logprob_drop()},
                               {"flipped_tokens", a.flipped_tokens()},
                               {"note", "each original answer token scored teacher-forced with the groups and without them "
                                        "(their features taken as zero); margin: the token's logit minus the best other token's"},
                               {"changes", changes},
                               {"milliseconds", a.milliseconds}};
    return out.dump(1);
}

std::string injection_map_json(const InjectionMap& map) {
    nlohmann::ordered_json images = nlohmann::ordered_json::array();
    for (const auto& image : map.images)
        images.push_back({{"width", image.image.width},
                          {"height", image.image.height},
                          {"first_position", image.first_position},
                          {"plan", nlohmann::ordered_json::parse(stack_plan_json(image.plan))}});
    nlohmann::ordered_json groups = nlohmann::ordered_json::array();
    for (const auto& g : map.groups)
        groups.push_back({{"group", g.group},
                          {"label", g.label},
                          {"source", g.source},
                          {"tower", g.tower == Tower::vision ? "vision" : "language"},
                          {"layer", g.layer},
                          {"joins", g.before_layer ? "before the layer" : "after the layer"},
                          {"mean_relative_change", g.mean_relative_change()},
                          {"mean_change_at_top", g.mean_change_at_top()},
                          {"relative_change", g.relative_change},
                          {"cosine", g.cosine},
                          {"change_at_top", g.change_at_top}});
    nlohmann::ordered_json out{{"format", "deepstack-studio-injection-map"},
                               {"version", 1},
                               {"family", map.family},
                               {"variant", map.variant},
                               {"note", "per token of the sequence a group joins (images in order): relative_change = |added| / "
                                        "|hidden state it joins|, cosine between the two; change_at_top per image position of "
                                        "the language model = |last layer's output without the group - with it| / |with it|"},
                               {"images", images},
                               {"groups", groups},
                               {"milliseconds", map.milliseconds}};
    return out.dump(1);
}

}  // namespace deepstack

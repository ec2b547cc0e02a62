// Held-out exact-match accuracy of a model folder, through the public engine: what a user of the app would get.
#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "deepstack/attention.h"
#include "deepstack/engine.h"
#include "deepstack/training.h"

namespace deepstack {

namespace {
bool overlap(const ImageRegion& a, const ImageRegion& b) {
    return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}

// Running sums of EvaluationResult::FieldAttention, one per layer.
struct FieldAttentionSums {
    std::vector<double> token_share, mass, top;

    // False when the capture has no answer rows or no input token on the field (nothing to count).
    bool add(const AttentionCapture& capture, const ImageRegion& field) {
        const auto answer = capture.queries_of(AttentionQuery::Kind::answer);
        if (answer.empty() || capture.images.empty()) return false;
        const auto& regions = capture.images.front().plan.input_regions;
        const auto first = static_cast<std::size_t>(capture.images.front().first_column);
        std::vector<bool> on_field(regions.size());
        double field_tokens = 0;
        for (std::size_t i = 0; i < regions.size(); ++i) field_tokens += (on_field[i] = overlap(regions[i], field)) ? 1 : 0;
        if (field_tokens == 0) return false;
        token_share.resize(capture.layers.size());
        mass.resize(capture.layers.size());
        top.resize(capture.layers.size());
        for (std::size_t l = 0; l < capture.layers.size(); ++l) {
            const auto values = capture.map(answer, l, {});
            double all = 0, on = 0;
            std::size_t best = 0;
            for (std::size_t i = 0; i < regions.size(); ++i) {
                const double v = values[first + i];
                all += v;
                on += on_field[i] ? v : 0;
                if (v > values[first + best]) best = i;
            }
            token_share[l] += field_tokens / static_cast<double>(regions.size());
            mass[l] += all > 0 ? on / all : 0;
            top[l] += on_field[best] ? 1 : 0;
        }
        return true;
    }
};

// 1 - Levenshtein distance / the longer length: 1 for the same text, 0 for nothing in common.
double similarity(const std::string& a, const std::string& b) {
    if (a.empty() && b.empty()) return 1.0;
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const auto above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return 1.0 - static_cast<double>(row[b.size()]) / static_cast<double>(std::max(a.size(), b.size()));
}

std::string trimmed(const std::string& s) {
    const auto begin = s.find_first_not_of(" \t\n");
    if (begin == std::string::npos) return {};
    return s.substr(begin, s.find_last_not_of(" \t\n") - begin + 1);
}
}  // namespace

EvaluationResult evaluate(const std::filesystem::path& model_folder, const EvaluationOptions& o) {
    EngineOptions engine;
    engine.threads = o.threads;
    engine.device = o.device;
    engine.compute = ComputeType::f32;
    engine.context_tokens = 1024;
    const auto model = Model::load(model_folder, engine);
    SamplingSettings greedy;
    greedy.max_new_tokens = o.max_new_tokens;
    EvaluationResult result;
    result.first_page = o.first_page;
    result.pages = o.pages;
    result.page_size = o.page_options.page_size;
    result.text_height = o.page_options.field_text_height;
    std::map<std::string, EvaluationCount> kinds;
    FieldAttentionSums field;
    std::vector<std::int64_t> layers;
    for (std::int64_t i = 0; i < o.pages; ++i) {
        const auto index = o.first_page + static_cast<std::uint64_t>(i);
        const auto page = synthetic_page(SyntheticSplit::held_out, index, o.page_options);
        for (const auto& q : page.questions) {
            auto chat = model->start_conversation();
            const auto answer = chat->send({Message::Role::user, q.question, {page.image}}, greedy);
            const bool right = trimmed(answer.text) == q.answer;
            if (o.field_attention && q.small_print && !q.region.empty()) {
                AttentionRequest request;
                request.question = false;
                const auto capture = chat->capture_attention(request);
                layers = capture.layers;
                if (field.add(capture, q.region)) ++result.field_questions;
            }
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
        if (o.reading) {
            SamplingSettings reading = greedy;
            reading.max_new_tokens = o.max_reading_tokens;
            auto chat = model->start_conversation();
            const auto transcript = trimmed(chat->send({Message::Role::user, page.reading.question, {page.image}}, reading).text);
            ++result.readings;
            result.readings_exact += transcript == page.reading.answer ? 1 : 0;
            result.reading_similarity += similarity(transcript, page.reading.answer);
            if (result.reading_samples.size() < 6) result.reading_samples.push_back({index, page.reading.question, page.reading.answer, transcript});
        }
        if (o.on_progress) o.on_progress(i + 1, o.pages);
    }
    result.kinds.assign(kinds.begin(), kinds.end());
    if (result.readings > 0) result.reading_similarity /= static_cast<double>(result.readings);
    const auto questions = static_cast<double>(std::max<std::int64_t>(1, result.field_questions));
    for (std::size_t l = 0; l < field.top.size(); ++l)
        result.field_attention.push_back({layers[l], field.token_share[l] / questions, field.mass[l] / questions, field.top[l] / questions});
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

// How evaluate() counts: exact match per question, character similarity per reading, and where the answers looked.
// Torch-free, so that the arithmetic is tested on known inputs (test_evaluation_scoring).
#include <algorithm>

#include "deepstack/error.h"
#include "deepstack/training.h"

namespace deepstack {

namespace {
bool overlap(const ImageRegion& a, const ImageRegion& b) {
    return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}

std::string trimmed(const std::string& s) {
    const auto begin = s.find_first_not_of(" \t\n");
    if (begin == std::string::npos) return {};
    return s.substr(begin, s.find_last_not_of(" \t\n") - begin + 1);
}

constexpr std::size_t kSamplesKept = 20;
constexpr std::size_t kReadingSamplesKept = 6;
}  // namespace

double character_similarity(const std::string& a, const std::string& b) {
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

void EvaluationScorer::add_answer(std::uint64_t page, const SyntheticQuestion& q, const std::string& answer) {
    const bool right = trimmed(answer) == q.answer;
    for (auto* count : {&tally_.all, &kinds_[q.kind]}) {
        ++count->asked;
        count->correct += right ? 1 : 0;
    }
    if (q.small_print) {
        ++tally_.small_print.asked;
        tally_.small_print.correct += right ? 1 : 0;
    }
    if (!right && tally_.misses.size() < kSamplesKept) tally_.misses.push_back({page, q.question, q.answer, answer});
}

void EvaluationScorer::add_reading(std::uint64_t page, const SyntheticQuestion& reading, const std::string& transcript) {
    const auto text = trimmed(transcript);
    ++tally_.readings;
    tally_.readings_exact += text == reading.answer ? 1 : 0;
    tally_.reading_similarity += character_similarity(text, reading.answer);
    if (tally_.reading_samples.size() < kReadingSamplesKept) tally_.reading_samples.push_back({page, reading.question, reading.answer, text});
}

bool EvaluationScorer::add_field_attention(const AttentionCapture& capture, const ImageRegion& field) {
    const auto answer = capture.queries_of(AttentionQuery::Kind::answer);
    if (answer.empty() || capture.images.empty() || field.empty()) return false;
    const auto& regions = capture.images.front().plan.input_regions;
    const auto first = static_cast<std::size_t>(capture.images.front().first_column);
    std::vector<bool> on_field(regions.size());
    double field_tokens = 0;
    for (std::size_t i = 0; i < regions.size(); ++i) field_tokens += (on_field[i] = overlap(regions[i], field)) ? 1 : 0;
    if (field_tokens == 0) return false;
    if (layers_.empty()) {
        layers_ = capture.layers;
        token_share_.assign(layers_.size(), 0);
        mass_.assign(layers_.size(), 0);
        top_.assign(layers_.size(), 0);
    } else if (layers_ != capture.layers) {
        throw Error(ErrorKind::internal, "", "field attention captured at other layers than the earlier questions'");
    }
    for (std::size_t l = 0; l < layers_.size(); ++l) {
        const auto values = capture.map(answer, l, {});
        double all = 0, on = 0;
        std::size_t best = 0;
        for (std::size_t i = 0; i < regions.size(); ++i) {
            const double v = values[first + i];
            all += v;
            on += on_field[i] ? v : 0;
            if (v > values[first + best]) best = i;
        }
        token_share_[l] += field_tokens / static_cast<double>(regions.size());
        mass_[l] += all > 0 ? on / all : 0;
        top_[l] += on_field[best] ? 1 : 0;
    }
    ++tally_.field_questions;
    return true;
}

EvaluationResult EvaluationScorer::result() const {
    auto r = tally_;
    r.kinds.assign(kinds_.begin(), kinds_.end());
    if (r.readings > 0) r.reading_similarity /= static_cast<double>(r.readings);
    const auto questions = static_cast<double>(std::max<std::int64_t>(1, r.field_questions));
    for (std::size_t l = 0; l < layers_.size(); ++l)
        r.field_attention.push_back({layers_[l], token_share_[l] / questions, mass_[l] / questions, top_[l] / questions});
    return r;
}

}  // namespace deepstack

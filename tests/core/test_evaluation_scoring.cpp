// The evaluation's arithmetic on known inputs: exact match with spaces trimmed, per kind and small print; the
// character similarity of known string pairs; readings averaged; where the answers looked, on a hand-made capture
// whose numbers are known.
#include <QtTest>
#include "test_main.h"

#include "deepstack/error.h"
#include "deepstack/training.h"

namespace test_evaluation_scoring {

using namespace deepstack;

namespace {
SyntheticQuestion question(std::string kind, bool small_print, std::string answer) {
    SyntheticQuestion q;
    q.kind = std::move(kind);
    q.small_print = small_print;
    q.question = "What is the " + q.kind + "?";
    q.answer = std::move(answer);
    return q;
}

// One picture of four input tokens, the quadrants of the page (top-left, top-right, bottom-left, bottom-right),
// after `first_column` other visual tokens; one head; the answer rows' attention per layer given.
AttentionCapture quadrant_capture(const std::vector<std::vector<std::vector<float>>>& answer_rows_per_layer, std::int64_t first_column = 0) {
    AttentionCapture c;
    c.heads = 1;
    const auto layers = answer_rows_per_layer.front().size();
    for (std::size_t l = 0; l < layers; ++l) c.layers.push_back(static_cast<std::int64_t>(2 * l + 1));
    c.language_layers = 8;
    AttentionImage image;
    image.plan.input_regions = {{0, 0, 0.5, 0.5}, {0.5, 0, 1, 0.5}, {0, 0.5, 0.5, 1}, {0.5, 0.5, 1, 1}};
    image.first_column = first_column;
    c.images.push_back(image);
    c.visual_tokens = first_column + 4;
    // A question row first (never counted), then the answer rows.
    c.queries.push_back({AttentionQuery::Kind::question, 10, 5, "?"});
    for (std::size_t r = 0; r < answer_rows_per_layer.size(); ++r)
        c.queries.push_back({AttentionQuery::Kind::answer, static_cast<std::int64_t>(11 + r), 7, "x"});
    for (std::size_t q = 0; q < c.queries.size(); ++q)
        for (std::size_t l = 0; l < layers; ++l) {
            for (std::int64_t skip = 0; skip < first_column; ++skip) c.visual.push_back(0.9f);  // another picture
            for (std::size_t t = 0; t < 4; ++t)
                c.visual.push_back(q == 0 ? (t == 3 ? 0.97f : 0.01f) : answer_rows_per_layer[q - 1][l][t]);
            c.elsewhere.push_back(0.0f);
        }
    return c;
}
}  // namespace

class TestEvaluationScoring : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void similarityOfKnownPairs() {
        QCOMPARE(character_similarity("kitten", "sitting"), 1.0 - 3.0 / 7.0);
        QCOMPARE(character_similarity("same", "same"), 1.0);
        QCOMPARE(character_similarity("", ""), 1.0);
        QCOMPARE(character_similarity("abc", ""), 0.0);
        QCOMPARE(character_similarity("", "abcd"), 0.0);
        QCOMPARE(character_similarity("abcd", "abed"), 0.75);
        QCOMPARE(character_similarity("ab", "ba"), 0.0);  // two substitutions over two characters
    }

    void answersCountedByKindAndSmallPrint() {
        EvaluationScorer scorer;
        scorer.add_answer(0, question("total", false, "42.00"), "  42.00\n");  // right: spaces trimmed
        scorer.add_answer(0, question("code", true, "X7-Q"), "X7-O");          // wrong
        scorer.add_answer(1, question("code", true, "B2"), "B2");              // right
        scorer.add_answer(1, question("date", true, "2026-01-05"), "2026-01-05 ");  // right
        scorer.add_answer(2, question("total", false, "9"), "9.0");            // wrong: exact match only
        const auto r = scorer.result();
        QCOMPARE(r.all.asked, std::int64_t{5});
        QCOMPARE(r.all.correct, std::int64_t{3});
        QCOMPARE(r.small_print.asked, std::int64_t{3});
        QCOMPARE(r.small_print.correct, std::int64_t{2});
        QCOMPARE(r.kinds.size(), std::size_t{3});
        QCOMPARE(r.kinds[0].first, std::string("code"));  // sorted by name
        QCOMPARE(r.kinds[0].second.asked, std::int64_t{2});
        QCOMPARE(r.kinds[0].second.correct, std::int64_t{1});
        QCOMPARE(r.kinds[2].first, std::string("total"));
        QCOMPARE(r.kinds[2].second.correct, std::int64_t{1});
        QCOMPARE(r.misses.size(), std::size_t{2});
        QCOMPARE(r.misses[0].page, std::uint64_t{0});
        QCOMPARE(r.misses[0].expected, std::string("X7-Q"));
        QCOMPARE(r.misses[0].answered, std::string("X7-O"));
        QCOMPARE(r.misses[1].answered, std::string("9.0"));
        QCOMPARE(r.all.accuracy(), 0.6);
        QVERIFY(r.field_attention.empty());
        QCOMPARE(r.readings, std::int64_t{0});
    }

    void onlyTheFirstMissesAreKept() {
        EvaluationScorer scorer;
        for (int i = 0; i < 25; ++i) scorer.add_answer(static_cast<std::uint64_t>(i), question("name", false, "Ann"), "Bob");
        const auto r = scorer.result();
        QCOMPARE(r.all.correct, std::int64_t{0});
        QCOMPARE(r.misses.size(), std::size_t{20});
        QCOMPARE(r.misses.back().page, std::uint64_t{19});
    }

    void readingsAveraged() {
        EvaluationScorer scorer;
        scorer.add_reading(0, question("reading", false, "abcd"), " abcd ");
        scorer.add_reading(1, question("reading", false, "abcd"), "abed");
        const auto r = scorer.result();
        QCOMPARE(r.readings, std::int64_t{2});
        QCOMPARE(r.readings_exact, std::int64_t{1});
        QCOMPARE(r.reading_similarity, (1.0 + 0.75) / 2);
        QCOMPARE(r.reading_samples.size(), std::size_t{2});
        QCOMPARE(r.reading_samples[0].answered, std::string("abcd"));
    }

    // The field is the top half: tokens 0 and 1 of 4 overlap it (a share of 0.5). Layer 1: the answer rows put
    // 0.5 of 0.8 there and their most-attended token (0) is on it; layer 3: 0.2 of 1.0, top token 3 off it.
    void fieldAttentionOnAKnownCapture() {
        const ImageRegion top_half{0, 0, 1, 0.5};
        EvaluationScorer scorer;
        const auto capture = quadrant_capture({{{0.4f, 0.1f, 0.2f, 0.1f}, {0.1f, 0.1f, 0.2f, 0.6f}}}, /*first_column=*/3);
        QVERIFY(scorer.add_field_attention(capture, top_half));
        auto r = scorer.result();
        QCOMPARE(r.field_questions, std::int64_t{1});
        QCOMPARE(r.field_attention.size(), std::size_t{2});
        QCOMPARE(r.field_attention[0].layer, std::int64_t{1});
        QCOMPARE(r.field_attention[1].layer, std::int64_t{3});
        QCOMPARE(r.field_attention[0].field_token_share, 0.5);
        QVERIFY(std::abs(r.field_attention[0].mass_on_field - 0.5 / 0.8) < 1e-6);
        QCOMPARE(r.field_attention[0].top_token_on_field, 1.0);
        QVERIFY(std::abs(r.field_attention[1].mass_on_field - 0.2) < 1e-6);
        QCOMPARE(r.field_attention[1].top_token_on_field, 0.0);

        // A second question averages in: all its attention on token 1 at both layers.
        const auto second = quadrant_capture({{{0, 1, 0, 0}, {0, 1, 0, 0}}});
        QVERIFY(scorer.add_field_attention(second, top_half));
        r = scorer.result();
        QCOMPARE(r.field_questions, std::int64_t{2});
        QVERIFY(std::abs(r.field_attention[0].mass_on_field - (0.5 / 0.8 + 1.0) / 2) < 1e-6);
        QCOMPARE(r.field_attention[1].top_token_on_field, 0.5);

        // Nothing to count: an empty box, one outside the picture, or a capture without answer rows.
        QVERIFY(!scorer.add_field_attention(second, {0.2, 0.2, 0.2, 0.2}));
        QVERIFY(!scorer.add_field_attention(second, {1.1, 0.0, 1.3, 0.4}));
        auto question_only = second;
        question_only.queries.resize(1);
        question_only.visual.resize(2 * 4);
        question_only.elsewhere.resize(2);
        QVERIFY(!scorer.add_field_attention(question_only, top_half));
        QCOMPARE(scorer.result().field_questions, std::int64_t{2});
    }
};

DEEPSTACK_TEST_APPLESS_MAIN(TestEvaluationScoring)

}  // namespace test_evaluation_scoring
#include "test_evaluation_scoring.moc"

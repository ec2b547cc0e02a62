// The synthetic pages: reproducible, every layout drawn, the held-out split apart from training, the small print
// small (unreadable once the page is halved, as the global view halves it) and where the questions say it is.
#include <QtTest>
#include "test_main.h"

#include <algorithm>
#include <set>

#include "deepstack/error.h"
#include "deepstack/synthetic.h"

namespace test_synthetic {

using namespace deepstack;

namespace {
// Dark pixels (ink) inside a region of the page.
int ink_in(const RgbImage& image, const ImageRegion& r) {
    int ink = 0;
    for (int y = static_cast<int>(r.top * image.height); y < static_cast<int>(r.bottom * image.height); ++y)
        for (int x = static_cast<int>(r.left * image.width); x < static_cast<int>(r.right * image.width); ++x) {
            const auto* p = &image.pixels[static_cast<std::size_t>((y * image.width + x) * 3)];
            if (p[0] + p[1] + p[2] < 3 * 120) ++ink;
        }
    return ink;
}
}  // namespace

class TestSynthetic : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void reproducible() {
        const auto a = synthetic_page(SyntheticSplit::train, 17), b = synthetic_page(SyntheticSplit::train, 17);
        QCOMPARE(a.image.pixels, b.image.pixels);
        QCOMPARE(a.questions.size(), b.questions.size());
        for (std::size_t i = 0; i < a.questions.size(); ++i) QCOMPARE(a.questions[i].answer, b.questions[i].answer);
        QVERIFY(synthetic_page(SyntheticSplit::train, 18).image.pixels != a.image.pixels);
        QVERIFY(synthetic_page(SyntheticSplit::held_out, 17).image.pixels != a.image.pixels);
    }

    void everyLayoutAndQuestionKind() {
        std::set<std::string> layouts, kinds;
        for (std::uint64_t i = 0; i < 120; ++i) {
            const auto page = synthetic_page(SyntheticSplit::train, i);
            layouts.insert(page.layout);
            QCOMPARE(page.image.width, 224);
            QCOMPARE(page.image.height, 224);
            QVERIFY2(!page.questions.empty(), page.layout.c_str());
            for (const auto& q : page.questions) {
                kinds.insert(q.kind);
                QVERIFY(!q.question.empty() && !q.answer.empty());
            }
        }
        QCOMPARE(layouts.size(), synthetic_layouts().size());
        for (const char* kind : {"invoice_number", "total", "date", "name", "code", "tracking", "weight", "cell", "count", "colour"})
            QVERIFY2(kinds.count(kind) == 1, kind);
    }

    // The questions a trained folder offers (sample_questions.json) are worded exactly as pages ask them.
    void exampleQuestionsAreAskedByThePages() {
        std::set<std::string> asked;
        for (std::uint64_t i = 0; i < 300; ++i) {
            const auto page = synthetic_page(SyntheticSplit::train, i);
            for (const auto& q : page.questions) asked.insert(q.question);
            if (!page.reading.question.empty()) asked.insert(page.reading.question);
        }
        for (const auto& q : synthetic_example_questions()) QVERIFY2(asked.count(q) == 1, q.c_str());
    }

    // The answers are printed where the question says, small: a cap height of about 6.5 pixels on the page is
    // about 3 once the page is halved for the global view.
    void smallPrintIsWhereAndHowSmallItSays() {
        int checked = 0;
        for (std::uint64_t i = 0; i < 60; ++i) {
            const auto page = synthetic_page(SyntheticSplit::train, i);
            for (const auto& q : page.questions) {
                if (!q.small_print) {
                    QVERIFY(q.region.empty());
                    continue;
                }
                QVERIFY(!q.region.empty());
                QVERIFY(q.region.left >= 0 && q.region.top >= 0 && q.region.right <= 1 && q.region.bottom <= 1);
                const double height = (q.region.bottom - q.region.top) * page.image.height;
                QVERIFY2(height >= 6 && height <= 12, qPrintable(QString("%1: %2 px").arg(QString::fromStdString(q.kind)).arg(height)));
                QVERIFY2(ink_in(page.image, q.region) > 8 * static_cast<int>(q.answer.size()) / 2,
                         qPrintable(QString::fromStdString(page.layout + " " + q.kind + ": no ink where the answer should be")));
                ++checked;
            }
        }
        QVERIFY(checked > 80);
    }

    // The held-out pages are not training pages: their codes and numbers never appear in the training split.
    void heldOutIsApart() {
        std::set<std::string> train;
        for (std::uint64_t i = 0; i < 400; ++i)
            for (const auto& q : synthetic_page(SyntheticSplit::train, i).questions)
                if (q.kind == "invoice_number" || q.kind == "tracking" || q.kind == "code") train.insert(q.answer);
        int compared = 0;
        for (std::uint64_t i = 0; i < 400; ++i)
            for (const auto& q : synthetic_page(SyntheticSplit::held_out, i).questions)
                if (q.kind == "invoice_number" || q.kind == "tracking" || (q.kind == "code" && q.answer.size() > 4)) {
                    QVERIFY2(train.count(q.answer) == 0, q.answer.c_str());
                    ++compared;
                }
        QVERIFY(compared > 50);
    }

    // The reading turn agrees with the questions: a document's transcript holds every printed answer, in the
    // order of the lines they are on; a scene's list has as many shapes, of each kind, as the counts say.
    void readingTurnAgreesWithTheQuestions() {
        int documents = 0, scenes = 0;
        for (std::uint64_t i = 0; i < 60; ++i) {
            const auto page = synthetic_page(SyntheticSplit::train, i);
            const auto& reading = page.reading.answer;
            const auto where = [&](const std::string& layout) { return QString::fromStdString(layout + " page " + std::to_string(i) + ": " + reading); };
            QCOMPARE(page.reading.kind, std::string("reading"));
            if (page.layout != "scene") {
                QCOMPARE(page.reading.question, std::string("Read the page."));
                double previous_top = -1;
                std::size_t previous_at = 0;
                auto by_line = page.questions;
                std::sort(by_line.begin(), by_line.end(), [](const auto& a, const auto& b) { return a.region.top < b.region.top; });
                for (const auto& q : by_line) {
                    const auto at = reading.find(q.answer);
                    QVERIFY2(at != std::string::npos, qPrintable(where(page.layout) + " lacks " + QString::fromStdString(q.answer)));
                    if (q.region.top > previous_top + 0.02) QVERIFY2(at >= previous_at, qPrintable(where(page.layout)));
                    previous_top = q.region.top;
                    previous_at = at;
                }
                ++documents;
                continue;
            }
            QCOMPARE(page.reading.question, std::string("List the shapes."));
            const auto listed = QString::fromStdString(reading).split(", ");
            for (const auto& q : page.questions) {
                const auto question = QString::fromStdString(q.question);
                if (question == "How many shapes are there?") QCOMPARE(QString::number(listed.size()), QString::fromStdString(q.answer));
                else if (question.startsWith("How many ")) {
                    const auto what = question.mid(9).chopped(QString("s are there?").size());
                    QCOMPARE(QString::number(listed.count(what)), QString::fromStdString(q.answer));
                } else {
                    const auto shape = question.mid(QString("What colour is the ").size()).chopped(1);
                    QVERIFY2(listed.contains(QString::fromStdString(q.answer) + " " + shape), qPrintable(where(page.layout)));
                }
            }
            ++scenes;
        }
        QVERIFY(documents > 30 && scenes > 4);
    }

    // --text-height: the same page (same fields, same answers) with its small print at another size.
    // The glyphs are the printed characters where they are drawn: the page's transcript, character for
    // character; ink at every centre; and a small-print field's glyphs, left to right, spell its answer (within
    // the printed text: a card's last digits follow its stars).
    void glyphsMarkThePrintedCharacters() {
        int fields = 0;
        for (std::uint64_t i = 0; i < 40; ++i) {
            const auto page = synthetic_page(SyntheticSplit::train, i);
            const auto where = QString::fromStdString(page.layout + " page " + std::to_string(i));
            if (page.layout == "scene") continue;
            std::string drawn, read;
            for (const auto& g : page.glyphs) drawn += g.character;
            for (const char c : page.reading.answer)
                if (c != ' ' && c != '\n') read += c;
            std::sort(drawn.begin(), drawn.end());
            std::sort(read.begin(), read.end());
            QVERIFY2(drawn == read, qPrintable(where));

            const int size = page.image.width;
            for (const auto& g : page.glyphs) {
                const int cx = static_cast<int>(g.x * size), cy = static_cast<int>(g.y * size);
                const int reach = std::max(2, static_cast<int>(g.height * size / 2));
                int darkest = 255;
                for (int y = std::max(0, cy - reach); y <= std::min(size - 1, cy + reach); ++y)
                    for (int x = std::max(0, cx - 2); x <= std::min(size - 1, cx + 2); ++x) {
                        const auto* p = &page.image.pixels[static_cast<std::size_t>((y * size + x) * 3)];
                        darkest = std::min({darkest, int{p[0]}, int{p[1]}, int{p[2]}});
                    }
                QVERIFY2(darkest < 160, qPrintable(where + ": no ink at '" + QChar(g.character) + "'"));
            }
            for (const auto& q : page.questions) {
                if (!q.small_print) continue;
                std::vector<SyntheticGlyph> inside;
                for (const auto& g : page.glyphs)
                    if (q.region.contains(g.x, g.y)) inside.push_back(g);
                std::sort(inside.begin(), inside.end(), [](const auto& a, const auto& b) { return a.x < b.x; });
                std::string spelled, answer;
                for (const auto& g : inside) spelled += g.character;
                for (const char c : q.answer)
                    if (c != ' ') answer += c;
                QVERIFY2(spelled.find(answer) != std::string::npos, qPrintable(where + ": " + QString::fromStdString(spelled + " vs " + answer)));
                ++fields;
            }
        }
        QVERIFY(fields > 60);
    }

    void textHeightScalesTheSmallPrintOnly() {
        SyntheticOptions larger;
        larger.field_text_height = 10;
        int checked = 0;
        for (std::uint64_t i = 0; i < 12; ++i) {
            const auto normal = synthetic_page(SyntheticSplit::train, i), large = synthetic_page(SyntheticSplit::train, i, larger);
            QCOMPARE(large.layout, normal.layout);
            QCOMPARE(large.questions.size(), normal.questions.size());
            for (std::size_t k = 0; k < normal.questions.size(); ++k) {
                QCOMPARE(large.questions[k].answer, normal.questions[k].answer);
                if (!normal.questions[k].small_print) continue;
                const double before = (normal.questions[k].region.bottom - normal.questions[k].region.top) * 224;
                const double after = (large.questions[k].region.bottom - large.questions[k].region.top) * 224;
                QVERIFY2(after > before + 2.5, qPrintable(QString("%1 px -> %2 px").arg(before).arg(after)));
                ++checked;
            }
        }
        QVERIFY(checked > 15);
    }

    void badOptionsAreRefused() {
        SyntheticOptions options;
        options.page_size = 10;
        QVERIFY_THROWS_EXCEPTION(Error, synthetic_page(SyntheticSplit::train, 0, options));
        options = {};
        options.field_text_height = 40;
        QVERIFY_THROWS_EXCEPTION(Error, synthetic_page(SyntheticSplit::train, 0, options));
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestSynthetic)

}  // namespace test_synthetic
#include "test_synthetic.moc"

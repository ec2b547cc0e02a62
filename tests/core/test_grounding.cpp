// Boxes and points read out of answers, in every form Qwen3-VL's model card documents (JSON with bbox_2d /
// point_2d in 0..1000, in a ```json fence or not, with text around it, cut off at the token limit, and the
// <|object_ref_start|> / <|box_start|> form), and mapped to the pixels of pages of different aspect and DPI.
#include <QtTest>
#include "test_main.h"

#include "deepstack/grounding.h"

namespace test_grounding {

using namespace deepstack;

namespace {
struct Expected {
    GroundedItem::Kind kind;
    std::string label;
    double x1, y1, x2, y2;
};
}  // namespace
}  // namespace test_grounding
// At global scope, as Qt's metatype templates need.
Q_DECLARE_METATYPE(std::vector<test_grounding::Expected>)
namespace test_grounding {

class TestGrounding : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void answers_data() {
        using K = GroundedItem::Kind;
        QTest::addColumn<QString>("answer");
        QTest::addColumn<std::vector<Expected>>("expected");
        QTest::newRow("fenced list of boxes") << QString("```json\n[\n\t{\"bbox_2d\": [135, 114, 874, 919], \"label\": \"cat\"},\n\t"
                                                         "{\"bbox_2d\": [10, 20, 30, 40], \"label\": \"dog\"}\n]\n```")
                                              << std::vector<Expected>{{K::box, "cat", 135, 114, 874, 919}, {K::box, "dog", 10, 20, 30, 40}};
        QTest::newRow("points") << QString("[{\"point_2d\": [512, 300], \"label\": \"total\"}, {\"point_2d\": [1, 999], \"label\": \"date\"}]")
                                << std::vector<Expected>{{K::point, "total", 512, 300, 512, 300}, {K::point, "date", 1, 999, 1, 999}};
        QTest::newRow("one object with text around")
            << QString("The total is here: {\"bbox_2d\": [612, 571, 893, 652], \"label\": \"total\"}. Anything else?")
            << std::vector<Expected>{{K::box, "total", 612, 571, 893, 652}};
        QTest::newRow("text spotting") << QString("[{\"bbox_2d\": [40, 50, 400, 90], \"text_content\": \"INVOICE {No. 7}\"}]")
                                       << std::vector<Expected>{{K::box, "INVOICE {No. 7}", 40, 50, 400, 90}};
        QTest::newRow("cut off at the token limit")
            << QString("```json\n[\n  {\"bbox_2d\": [1, 2, 3, 4], \"label\": \"a\"},\n  {\"bbox_2d\": [5, 6")
            << std::vector<Expected>{{K::box, "a", 1, 2, 3, 4}};
        QTest::newRow("nested under a key") << QString("{\"objects\": [{\"bbox_2d\": [100, 100, 200, 200], \"label\": \"stamp\"}]}")
                                            << std::vector<Expected>{{K::box, "stamp", 100, 100, 200, 200}};
        QTest::newRow("box tokens with a reference")
            << QString("<|object_ref_start|>the total<|object_ref_end|><|box_start|>(612,571),(893,652)<|box_end|> and "
                       "<|box_start|>(10,10),(20,20)<|box_end|>")
            << std::vector<Expected>{{K::box, "the total", 612, 571, 893, 652}, {K::box, "", 10, 10, 20, 20}};
        QTest::newRow("decimals and no label") << QString("[{\"bbox_2d\": [10.5, 20.25, 30, 40]}]")
                                               << std::vector<Expected>{{K::box, "", 10.5, 20.25, 30, 40}};
        QTest::newRow("nothing to draw") << QString("The total is 171.74. {\"answer\": 3} [1, 2, 3, 4] {\"bbox_2d\": [1, 2, 3]}")
                                         << std::vector<Expected>{};
        QTest::newRow("broken JSON then a good one")
            << QString("{\"bbox_2d\": [1, 2, 3, 4], \"label\": } {\"point_2d\": [7, 8], \"label\": \"x\"}")
            << std::vector<Expected>{{K::point, "x", 7, 8, 7, 8}};
    }
    void answers() {
        QFETCH(QString, answer);
        QFETCH(std::vector<Expected>, expected);
        const auto text = answer.toStdString();
        const auto items = parse_grounding(text);
        QCOMPARE(items.size(), expected.size());
        for (std::size_t i = 0; i < items.size(); ++i) {
            QCOMPARE(items[i].kind, expected[i].kind);
            QCOMPARE(items[i].label, expected[i].label);
            QCOMPARE(items[i].x1, expected[i].x1);
            QCOMPARE(items[i].y1, expected[i].y1);
            QCOMPARE(items[i].x2, expected[i].x2);
            QCOMPARE(items[i].y2, expected[i].y2);
            // The item's own text, found again in the answer.
            const auto span = text.substr(items[i].text_begin, items[i].text_end - items[i].text_begin);
            QVERIFY2(span.front() == '{' || span.front() == '<', span.c_str());
            QVERIFY2(span.back() == '}' || span.back() == '>', span.c_str());
            QVERIFY2(span.find(expected[i].label) != std::string::npos, span.c_str());
            QVERIFY(items[i].text_end > items[i].text_begin && items[i].text_end <= text.size());
            if (i > 0) QVERIFY(items[i].text_begin >= items[i - 1].text_end);
        }
    }

    // 0..1000 of the picture, whatever its size: the same box lands on the same part of an A4 page at 72 and at
    // 144 dpi, of a landscape photo and of a tall receipt. Corners written the wrong way round are ordered, values
    // past the picture clamped.
    void coordinatesMapToPixels_data() {
        QTest::addColumn<int>("width");
        QTest::addColumn<int>("height");
        QTest::newRow("A4 at 72 dpi") << 595 << 842;
        QTest::newRow("A4 at 144 dpi") << 1190 << 1684;
        QTest::newRow("landscape photo") << 4032 << 3024;
        QTest::newRow("tall receipt") << 300 << 1500;
    }
    void coordinatesMapToPixels() {
        QFETCH(int, width);
        QFETCH(int, height);
        const auto items = parse_grounding(R"([{"bbox_2d": [250, 100, 750, 500]}, {"bbox_2d": [900, 800, 100, 1200]}, {"point_2d": [500, 500]}])");
        QCOMPARE(items.size(), std::size_t{3});
        const auto box = items[0].region();
        QCOMPARE(box.left * width, 0.25 * width);
        QCOMPARE(box.right * width, 0.75 * width);
        QCOMPARE(box.top * height, 0.1 * height);
        QCOMPARE(box.bottom * height, 0.5 * height);
        const auto swapped = items[1].region();
        QCOMPARE(swapped.left, 0.1);
        QCOMPARE(swapped.right, 0.9);
        QCOMPARE(swapped.top, 0.8);
        QCOMPARE(swapped.bottom, 1.0);  // 1200 is past the picture
        const auto point = items[2].region();
        QVERIFY(point.empty());
        QCOMPARE(point.left * width, 0.5 * width);
        QCOMPARE(point.top * height, 0.5 * height);
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestGrounding)

}  // namespace test_grounding
#include "test_grounding.moc"

// Ranking a document's pages for a question (BM25 over their text layers) and choosing those that fit a budget.
#include <QtTest>
#include "test_main.h"

#include "deepstack/page_ranking.h"

namespace test_page_ranking {

using namespace deepstack;

class TestPageRanking : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void words() {
        QCOMPARE(ranking_words("The TOTAL: 4,711.00 EUR; a b-c déjà"),
                 (std::vector<std::string>{"the", "total", "711", "00", "eur", "déjà"}));  // one-character words dropped
    }

    // The page that holds the question's rare words wins; a word on every page decides nothing; pages without text
    // come last and say so; ties keep the document's order.
    void ranksTheMatchingPageFirst() {
        std::vector<std::string> pages;
        for (int p = 0; p < 40; ++p) pages.push_back("ACME Corp quarterly report page " + std::to_string(p + 1) + " revenue section filler text");
        pages[26] += " the invoice total is 4711.00 euros";
        pages[11] += " invoice";  // one of the words, once
        pages[33] = "";           // a scan
        pages[34] = "  \n ";
        const auto ranked = rank_pages(pages, "What is the invoice total of ACME?");
        QCOMPARE(ranked.size(), std::size_t{40});
        QCOMPARE(ranked[0].page, 26);
        QCOMPARE(ranked[1].page, 11);
        QCOMPARE(ranked[0].matched, (std::vector<std::string>{"is", "the", "invoice", "total", "acme"}));
        QVERIFY(ranked[0].score > ranked[1].score && ranked[1].score > ranked[2].score);
        QCOMPARE(ranked[38].page, 33);
        QCOMPARE(ranked[39].page, 34);
        QVERIFY(!ranked[38].has_text && !ranked[39].has_text);
        QCOMPARE(ranked[2].page, 0);  // the rest tie (ACME is on every page: weight near zero), in document order
        for (std::size_t i = 2; i < 38; ++i) QVERIFY(ranked[i].score < 0.1);
    }

    void choosesWhatFits() {
        std::vector<RankedPage> ranked(5);
        for (int i = 0; i < 5; ++i) ranked[static_cast<std::size_t>(i)].page = 4 - i;  // best first: 4, 3, 2, 1, 0
        const std::vector<std::int64_t> tokens{100, 100, 500, 300, 200};
        auto choice = choose_pages(ranked, tokens, 600);
        // 4 (200) + 3 (300); 2 (500) does not fit, 1 (100) does, then 0 no longer
        QCOMPARE(choice.chosen, (std::vector<int>{1, 3, 4}));
        QCOMPARE(choice.left_out, (std::vector<int>{2, 0}));
        QCOMPARE(choice.tokens, std::int64_t{600});
        choice = choose_pages(ranked, tokens, 10000, 2);
        QCOMPARE(choice.chosen, (std::vector<int>{3, 4}));
        QCOMPARE(choice.left_out, (std::vector<int>{2, 1, 0}));
        QVERIFY(choose_pages(ranked, tokens, 50).chosen.empty());
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestPageRanking)

}  // namespace test_page_ranking
#include "test_page_ranking.moc"

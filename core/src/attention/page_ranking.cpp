// BM25 (Robertson and Zaragoza's form, k1 = 1.2, b = 0.75) over the pages of one document: the document is its own
// collection, so a word on every page (the company's name in the header) weighs nothing and a word on one page
// weighs most.
#include "deepstack/page_ranking.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>

namespace deepstack {

std::vector<std::string> ranking_words(std::string_view text) {
    std::vector<std::string> words;
    std::string word;
    const auto flush = [&] {
        if (word.size() > 1) words.push_back(word);
        word.clear();
    };
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c >= 0x80 || std::isalnum(c)) word += static_cast<char>(c < 0x80 ? std::tolower(c) : c);
        else flush();
    }
    flush();
    return words;
}

std::vector<RankedPage> rank_pages(const std::vector<std::string>& page_texts, std::string_view question) {
    constexpr double k1 = 1.2, b = 0.75;
    const auto n = page_texts.size();
    std::vector<std::map<std::string, int>> counts(n);
    std::vector<double> lengths(n, 0);
    std::map<std::string, int> pages_with;
    double total_length = 0;
    for (std::size_t p = 0; p < n; ++p) {
        for (auto& w : ranking_words(page_texts[p])) ++counts[p][w];
        for (const auto& [w, c] : counts[p]) {
            lengths[p] += c;
            ++pages_with[w];
        }
        total_length += lengths[p];
    }
    const double average = n > 0 ? std::max(1.0, total_length / static_cast<double>(n)) : 1.0;
    // The question's words once each, in its order.
    std::vector<std::string> terms;
    std::set<std::string> seen;
    for (auto& w : ranking_words(question))
        if (seen.insert(w).second) terms.push_back(w);

    std::vector<RankedPage> ranked;
    for (std::size_t p = 0; p < n; ++p) {
        RankedPage page;
        page.page = static_cast<int>(p);
        page.has_text = lengths[p] > 0;
        for (const auto& term : terms) {
            const auto it = counts[p].find(term);
            if (it == counts[p].end()) continue;
            const double df = pages_with[term];
            const double idf = std::log(1.0 + (static_cast<double>(n) - df + 0.5) / (df + 0.5));
            const double tf = it->second;
            page.score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths[p] / average));
            page.matched.push_back(term);
        }
        ranked.push_back(std::move(page));
    }
    std::stable_sort(ranked.begin(), ranked.end(), [](const RankedPage& a, const RankedPage& c) {
        if (a.has_text != c.has_text) return a.has_text;
        return a.score > c.score;
    });
    return ranked;
}

PageChoice choose_pages(const std::vector<RankedPage>& ranked, const std::vector<std::int64_t>& page_tokens, std::int64_t budget_tokens,
                        int max_pages) {
    PageChoice choice;
    for (const auto& page : ranked) {
        const auto p = static_cast<std::size_t>(page.page);
        const auto cost = p < page_tokens.size() ? page_tokens[p] : 0;
        const bool room = max_pages <= 0 || static_cast<int>(choice.chosen.size()) < max_pages;
        if (room && choice.tokens + cost <= budget_tokens) {
            choice.chosen.push_back(page.page);
            choice.tokens += cost;
        } else {
            choice.left_out.push_back(page.page);
        }
    }
    std::sort(choice.chosen.begin(), choice.chosen.end());
    return choice;
}

}  // namespace deepstack

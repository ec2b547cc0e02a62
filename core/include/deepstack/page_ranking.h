// Which pages of a long document to show the model for a question: each page's text layer scored against the
// question with BM25 (written here; no service, no model), pages without text (scans) last and marked so, and the
// best pages that fit a token budget chosen. Plain data, no LibTorch.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace deepstack {

struct RankedPage {
    int page = 0;           // index into the texts given
    double score = 0;       // BM25 of the question's words on this page; 0 for a page without text
    bool has_text = false;  // false: a scan or a picture, ranked after every page with text
    std::vector<std::string> matched;  // the question's words found on the page, in the question's order
};

// The words a text is scored by: lower-cased letters and digits (non-ASCII letters kept as they are), each run one
// word; words of one character are dropped.
std::vector<std::string> ranking_words(std::string_view text);

// Every page, best first (ties: the earlier page first). A page whose text has no words has no text.
std::vector<RankedPage> rank_pages(const std::vector<std::string>& page_texts, std::string_view question);

struct PageChoice {
    std::vector<int> chosen;     // pages to send, in document order
    std::vector<int> left_out;   // the others, best first
    std::int64_t tokens = 0;     // what the chosen cost together
};

// Takes pages in rank order while their tokens (`page_tokens`, per page index) fit `budget_tokens`; a page that does
// not fit is skipped, and a smaller one after it may still go. At most `max_pages` (0: no limit).
PageChoice choose_pages(const std::vector<RankedPage>& ranked, const std::vector<std::int64_t>& page_tokens,
                        std::int64_t budget_tokens, int max_pages = 0);

}  // namespace deepstack

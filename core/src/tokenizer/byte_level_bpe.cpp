#include "tokenizer/byte_level_bpe.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <queue>

#include "config/json_fields.h"
#include "deepstack/error.h"
#include "tokenizer/unicode.h"

namespace deepstack::tokenizer {

using config::Fields;
using config::Json;

// ---------------------------------------------------------------------------------------------------------------
// The pre-tokenizer's split regex, compiled once with PCRE2 (UTF + Unicode properties, JIT when available).

class SplitRegex {
public:
    SplitRegex(const std::string& pattern, const std::string& file) {
        int error = 0;
        PCRE2_SIZE offset = 0;
        code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                              &error, &offset, nullptr);
        if (code_ == nullptr) {
            PCRE2_UCHAR message[256];
            pcre2_get_error_message(error, message, sizeof message);
            throw Error(ErrorKind::format, file, "pre-tokenizer regex does not compile at offset " + std::to_string(offset) +
                                                     ": " + reinterpret_cast<const char*>(message));
        }
        pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when JIT is unavailable
    }
    ~SplitRegex() { pcre2_code_free(code_); }
    SplitRegex(const SplitRegex&) = delete;
    SplitRegex& operator=(const SplitRegex&) = delete;

    // "Isolated" splitting: every match is a piece, and so is every gap between matches.
    template <typename Piece>
    void split(std::string_view text, Piece&& piece) const {
        auto* match = pcre2_match_data_create_from_pattern(code_, nullptr);
        std::size_t start = 0, emitted = 0;
        while (start < text.size()) {
            const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), start,
                                       PCRE2_NO_UTF_CHECK, match, nullptr);
            if (rc < 0) break;  // no further match (or a match-limit error, treated as the end)
            const auto* ovector = pcre2_get_ovector_pointer(match);
            const std::size_t begin = ovector[0], end = ovector[1];
            if (begin > emitted) piece(text.substr(emitted, begin - emitted));
            if (end > begin) piece(text.substr(begin, end - begin));
            emitted = end;
            if (end == begin) {  // an empty match: step over one character
                start = end + 1;
                while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) ++start;
            } else {
                start = end;
            }
        }
        if (emitted < text.size()) piece(text.substr(emitted));
        pcre2_match_data_free(match);
    }

private:
    pcre2_code* code_ = nullptr;
};

// GPT-2's default split, used when a ByteLevel pre-tokenizer has use_regex true.
constexpr const char* kGpt2Split = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// ---------------------------------------------------------------------------------------------------------------
// The byte <-> printable character mapping of GPT-2 (bytes_to_unicode).

namespace {

struct ByteAlphabet {
    std::string symbol[256];                       // byte -> UTF-8 of its printable stand-in
    std::unordered_map<char32_t, unsigned char> byte_of;  // stand-in code point -> byte
    ByteAlphabet() {
        int extra = 0;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            const char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + extra++);
            append_utf8(symbol[b], cp);
            byte_of[cp] = static_cast<unsigned char>(b);
        }
    }
};

const ByteAlphabet& alphabet() {
    static const ByteAlphabet instance;
    return instance;
}

std::uint64_t pair_key(TokenId left, TokenId right) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
}

// Decodes one UTF-8 code point at `i` of valid UTF-8.
char32_t next_code_point(std::string_view s, std::size_t& i) {
    const auto c = static_cast<unsigned char>(s[i]);
    const int length = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    char32_t cp = length == 1 ? c : length == 2 ? (c & 0x1F) : length == 3 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k < length; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]) & 0x3F);
    i += static_cast<std::size_t>(length);
    return cp;
}

// Finds the split regex in a pre_tokenizer tree; sets `byte_level` when a ByteLevel step is present.
void read_pre_tokenizer(const Fields& f, std::string& pattern, bool& byte_level, const std::string& file) {
    const auto type = f.string("type");
    if (type == "Sequence") {
        for (const auto& step : f.at("pretokenizers")) read_pre_tokenizer(Fields(step, file, f.path("pretokenizers.")), pattern, byte_level, file);
    } else if (type == "Split") {
        if (!pattern.empty()) throw f.error("type", "more than one Split step is not supported");
        const auto regex = f.object("pattern");
        if (!regex.has("Regex")) throw regex.error("Regex", "only regex split patterns are supported");
        pattern = regex.string("Regex");
        const auto behavior = f.string("behavior", "Isolated");
        if (behavior != "Isolated") throw f.error("behavior", "'" + behavior + "' is not supported (only Isolated)");
        if (f.boolean("invert", false)) throw f.error("invert", "inverted splits are not supported");
    } else if (type == "ByteLevel") {
        byte_level = true;
        if (f.boolean("add_prefix_space", false)) throw f.error("add_prefix_space", "is not supported");
        if (f.boolean("use_regex", true)) {
            if (!pattern.empty()) throw f.error("use_regex", "a ByteLevel regex after a Split is not supported");
            pattern = kGpt2Split;
        }
    } else {
        throw f.error("type", "pre-tokenizer '" + type + "' is not supported");
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Loading

ByteLevelBpe::~ByteLevelBpe() = default;

std::unique_ptr<ByteLevelBpe> ByteLevelBpe::load(const std::filesystem::path& path) {
    const std::string file = path.string();
    const Json json = config::read_json_file(path);
    const Fields root(json, file);
    std::unique_ptr<ByteLevelBpe> t(new ByteLevelBpe());

    if (root.has("normalizer")) {
        const auto normalizer = root.object("normalizer");
        const auto type = normalizer.string("type");
        if (type != "NFC") throw normalizer.error("type", "normalizer '" + type + "' is not supported (only NFC)");
        t->normalize_nfc_ = true;
    }
    std::string pattern;
    bool byte_level = false;
    if (root.has("pre_tokenizer")) read_pre_tokenizer(root.object("pre_tokenizer"), pattern, byte_level, file);
    if (!byte_level) throw root.error("pre_tokenizer", "has no ByteLevel step: not a byte-level BPE tokenizer");
    if (!pattern.empty()) t->split_ = std::make_unique<SplitRegex>(pattern, file);

    const auto model = root.object("model");
    if (model.string("type", "BPE") != "BPE") throw model.error("type", "only BPE models are supported");
    if (model.boolean("byte_fallback", false)) throw model.error("byte_fallback", "is not supported with byte-level BPE");
    t->ignore_merges_ = model.boolean("ignore_merges", false);
    const auto& vocab = model.at("vocab");
    if (!vocab.is_object()) throw model.error("vocab", "expected an object of token -> id");
    // Ids index the token table, so they bound its size: the largest vocabularies have a few hundred thousand.
    constexpr std::int64_t kMaxTokenId = (1 << 24) - 1;
    TokenId max_id = -1;
    for (const auto& [token, id] : vocab.items()) {
        if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() > kMaxTokenId)
            throw model.error("vocab", "token '" + token + "' has the id " + id.dump() + ", expected 0.." + std::to_string(kMaxTokenId));
        max_id = std::max(max_id, id.get<TokenId>());
    }
    std::vector<AddedToken> added;
    if (root.has("added_tokens")) {
        for (const auto& entry : root.json().at("added_tokens")) {
            const Fields a(entry, file, "added_tokens.");
            if (a.boolean("lstrip", false) || a.boolean("rstrip", false) || a.boolean("single_word", false))
                throw a.error("content", "'" + a.string("content") + "' uses lstrip/rstrip/single_word, not supported");
            added.push_back({a.string("content"), static_cast<TokenId>(a.count("id", kMaxTokenId)), a.boolean("special", false)});
            max_id = std::max(max_id, added.back().id);
        }
    }
    t->tokens_.resize(static_cast<std::size_t>(max_id) + 1);
    t->special_.assign(t->tokens_.size(), false);
    t->added_.assign(t->tokens_.size(), false);
    for (const auto& [token, id] : vocab.items()) {
        t->tokens_[id.get<std::size_t>()] = token;
        t->vocab_.emplace(token, id.get<TokenId>());
    }
    for (const auto& a : added) {
        t->tokens_[static_cast<std::size_t>(a.id)] = a.content;
        t->special_[static_cast<std::size_t>(a.id)] = a.special;
        t->added_[static_cast<std::size_t>(a.id)] = true;
    }
    t->added_tokens_ = std::move(added);
    for (const auto& a : t->added_tokens_)
        if (!a.content.empty()) t->added_first_byte_[static_cast<unsigned char>(a.content[0])] = true;
    std::stable_sort(t->added_tokens_.begin(), t->added_tokens_.end(),
                     [](const AddedToken& a, const AddedToken& b) { return a.content.size() > b.content.size(); });

    for (int b = 0; b < 256; ++b) {
        const auto it = t->vocab_.find(alphabet().symbol[b]);
        if (it == t->vocab_.end()) throw model.error("vocab", "lacks the symbol of byte " + std::to_string(b));
        t->byte_token_[b] = it->second;
    }

    // Merges are "a b" strings (older files) or ["a", "b"] pairs (newer); rank = position in the list.
    const auto& merges = model.at("merges");
    std::int32_t rank = 0;
    for (const auto& merge : merges) {
        std::string left, right;
        if (merge.is_string()) {
            const auto text = merge.get<std::string>();
            const auto space = text.find(' ');
            if (space == std::string::npos) throw model.error("merges", "entry '" + text + "' is not 'left right'");
            left = text.substr(0, space);
            right = text.substr(space + 1);
        } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
            left = merge[0].get<std::string>();
            right = merge[1].get<std::string>();
        } else {
            throw model.error("merges", "entry " + merge.dump() + " is not a pair of tokens");
        }
        const auto l = t->vocab_.find(left), r = t->vocab_.find(right), m = t->vocab_.find(left + right);
        if (l == t->vocab_.end() || r == t->vocab_.end() || m == t->vocab_.end())
            throw model.error("merges", "entry " + std::to_string(rank) + " ('" + left + "', '" + right +
                                            "') names a token that is not in the vocabulary");
        t->merges_.emplace(pair_key(l->second, r->second), Merge{rank, m->second});
        ++rank;
    }
    return t;
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding

std::vector<TokenId> ByteLevelBpe::encode(std::string_view raw) const {
    const std::string text = sanitize_utf8(raw);
    std::vector<TokenId> ids;
    // Added tokens are found first, leftmost and then longest, and never normalised or merged.
    std::size_t start = 0, i = 0;
    while (i < text.size()) {
        const AddedToken* found = nullptr;
        if (added_first_byte_[static_cast<unsigned char>(text[i])])
            for (const auto& a : added_tokens_)
            if (!a.content.empty() && text.compare(i, a.content.size(), a.content) == 0) {
                found = &a;
                break;
            }
        if (found == nullptr) {
            ++i;
            continue;
        }
        encode_ordinary(std::string_view(text).substr(start, i - start), ids);
        ids.push_back(found->id);
        i += found->content.size();
        start = i;
    }
    encode_ordinary(std::string_view(text).substr(start), ids);
    return ids;
}

void ByteLevelBpe::encode_ordinary(std::string_view text, std::vector<TokenId>& out) const {
    if (text.empty()) return;
    const std::string normalized = normalize_nfc_ ? nfc(text) : std::string(text);
    if (split_) split_->split(normalized, [&](std::string_view word) { encode_word(word, out); });
    else encode_word(normalized, out);
}

void ByteLevelBpe::encode_word(std::string_view word, std::vector<TokenId>& out) const {
    if (ignore_merges_) {
        std::string mapped;
        for (const char c : word) mapped += alphabet().symbol[static_cast<unsigned char>(c)];
        if (const auto it = vocab_.find(mapped); it != vocab_.end()) {
            out.push_back(it->second);
            return;
        }
    }
    // Symbols in a linked list; a heap of candidate merges ordered by (rank, position), as `tokenizers` does.
    struct Symbol {
        TokenId id;
        int prev, next;
        bool alive;
    };
    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    for (std::size_t k = 0; k < word.size(); ++k)
        symbols.push_back({byte_token_[static_cast<unsigned char>(word[k])], static_cast<int>(k) - 1,
                           k + 1 < word.size() ? static_cast<int>(k) + 1 : -1, true});
    struct Candidate {
        std::int32_t rank;
        int left;
        TokenId left_id, right_id, result;
        bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
    auto consider = [&](int left) {
        if (left < 0) return;
        const int right = symbols[static_cast<std::size_t>(left)].next;
        if (right < 0) return;
        const auto it = merges_.find(pair_key(symbols[static_cast<std::size_t>(left)].id, symbols[static_cast<std::size_t>(right)].id));
        if (it != merges_.end())
            heap.push({it->second.rank, left, symbols[static_cast<std::size_t>(left)].id,
                       symbols[static_cast<std::size_t>(right)].id, it->second.result});
    };
    for (int k = 0; k + 1 < static_cast<int>(symbols.size()); ++k) consider(k);
    while (!heap.empty()) {
        const auto c = heap.top();
        heap.pop();
        auto& left = symbols[static_cast<std::size_t>(c.left)];
        if (!left.alive || left.id != c.left_id || left.next < 0) continue;
        auto& right = symbols[static_cast<std::size_t>(left.next)];
        if (right.id != c.right_id) continue;  // the pair changed since it was queued
        left.id = c.result;
        right.alive = false;
        left.next = right.next;
        if (right.next >= 0) symbols[static_cast<std::size_t>(right.next)].prev = c.left;
        consider(left.prev);
        consider(c.left);
    }
    for (int k = symbols.empty() ? -1 : 0; k >= 0; k = symbols[static_cast<std::size_t>(k)].next) out.push_back(symbols[static_cast<std::size_t>(k)].id);
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding

std::string ByteLevelBpe::token_bytes(TokenId id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size())
        throw Error(ErrorKind::internal, "", "token id " + std::to_string(id) + " is outside the vocabulary of " +
                                                 std::to_string(tokens_.size()));
    const auto& token = tokens_[static_cast<std::size_t>(id)];
    if (added_[static_cast<std::size_t>(id)]) return token;
    std::string bytes;
    for (std::size_t i = 0; i < token.size();) {
        const auto cp = next_code_point(token, i);
        const auto it = alphabet().byte_of.find(cp);
        if (it != alphabet().byte_of.end()) bytes += static_cast<char>(it->second);
    }
    return bytes;
}

std::string ByteLevelBpe::decode(std::span<const TokenId> ids, bool skip_special) const {
    std::string bytes;
    for (const auto id : ids) {
        if (skip_special && is_special(id)) continue;
        bytes += token_bytes(id);
    }
    return sanitize_utf8(bytes);
}

std::optional<TokenId> ByteLevelBpe::token_id(std::string_view token) const {
    for (const auto& a : added_tokens_)
        if (a.content == token) return a.id;
    const auto it = vocab_.find(std::string(token));
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
}

bool ByteLevelBpe::is_special(TokenId id) const {
    return id >= 0 && static_cast<std::size_t>(id) < special_.size() && special_[static_cast<std::size_t>(id)];
}

}  // namespace deepstack::tokenizer

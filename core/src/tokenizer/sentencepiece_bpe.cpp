#include "tokenizer/sentencepiece_bpe.h"

#include <algorithm>
#include <cstdio>
#include <queue>

#include "deepstack/error.h"
#include "tokenizer/unicode.h"

namespace deepstack::tokenizer {

namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581 "▁", how sentencepiece writes a space

std::size_t utf8_length(unsigned char lead) {
    return lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
}

bool starts_with(std::string_view text, std::size_t at, std::string_view prefix) {
    return text.size() - at >= prefix.size() && text.compare(at, prefix.size(), prefix) == 0;
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
    for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    return text;
}

}  // namespace

std::unique_ptr<SentencePieceBpe> SentencePieceBpe::load(const std::filesystem::path& file) {
    std::unique_ptr<SentencePieceBpe> self(new SentencePieceBpe);
    self->model_ = read_sentencepiece_model(file);
    const auto& m = self->model_;
    if (m.model_type != SentencePieceModel::ModelType::bpe)
        throw Error(ErrorKind::unsupported, file.string(),
                    "only sentencepiece BPE models are supported (LLaMA's kind); this one is a unigram, word or char model");
    if (m.has_precompiled_charsmap || (!m.normalizer_name.empty() && m.normalizer_name != "identity"))
        throw Error(ErrorKind::unsupported, file.string(),
                    "the normaliser \"" + m.normalizer_name + "\" is not supported (LLaMA's is \"identity\")");

    bool has_byte_piece[256] = {};
    for (std::size_t id = 0; id < m.pieces.size(); ++id) {
        const auto& piece = m.pieces[id];
        const auto token = static_cast<TokenId>(id);
        self->all_pieces_.emplace(piece.text, token);
        using Type = SentencePieceModel::PieceType;
        switch (piece.type) {
            case Type::normal:
            case Type::unused: self->mergeable_.emplace(piece.text, token); break;
            case Type::user_defined:
                self->mergeable_.emplace(piece.text, token);
                self->user_defined_.push_back(piece.text);
                break;
            case Type::control:
                if (!piece.text.empty()) self->control_.emplace_back(piece.text, token);
                break;
            case Type::byte: {
                unsigned value = 0;
                if (piece.text.size() == 6 && std::sscanf(piece.text.c_str(), "<0x%2X>", &value) == 1 && value < 256) {
                    self->byte_piece_[value] = token;
                    has_byte_piece[value] = true;
                }
                break;
            }
            case Type::unknown: break;
        }
    }
    // The unknown piece's text ("<unk>") is matched in the text like the control pieces, as the slow tokenizer does.
    if (m.unk_id >= 0 && static_cast<std::size_t>(m.unk_id) < m.pieces.size())
        self->control_.emplace_back(m.pieces[static_cast<std::size_t>(m.unk_id)].text, m.unk_id);
    if (m.byte_fallback)
        for (int b = 0; b < 256; ++b)
            if (!has_byte_piece[b]) {
                char name[8];
                std::snprintf(name, sizeof name, "<0x%02X>", b);
                throw Error(ErrorKind::format, file.string(), std::string("byte_fallback is on but the piece ") + name + " is missing");
            }
    const auto longest_first = [](const auto& a, const auto& b) { return a.size() > b.size(); };
    std::sort(self->user_defined_.begin(), self->user_defined_.end(), longest_first);
    std::sort(self->control_.begin(), self->control_.end(),
              [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    return self;
}

std::string SentencePieceBpe::normalize(std::string_view text) const {
    // Identity normaliser: only whitespace handling. With remove_extra_whitespaces, leading, trailing and repeated
    // spaces go; the dummy prefix gives the first word the same "▁" as every later word.
    std::string spaced;
    const bool squeeze = model_.remove_extra_whitespaces;
    bool previous_space = squeeze;  // drops leading spaces when squeezing
    for (const char c : text) {
        if (c == ' ' && squeeze && previous_space) continue;
        previous_space = c == ' ';
        spaced += c;
    }
    if (squeeze)
        while (!spaced.empty() && spaced.back() == ' ') spaced.pop_back();
    if (spaced.empty()) return {};
    if (model_.add_dummy_prefix) spaced.insert(spaced.begin(), ' ');
    return model_.escape_whitespaces ? replace_all(std::move(spaced), " ", kSpaceMark) : spaced;
}

void SentencePieceBpe::encode_stretch(std::string_view raw, std::vector<TokenId>& out) const {
    const std::string text = normalize(raw);
    if (text.empty()) return;

    // Symbols: characters, or whole user-defined pieces (frozen: never merged).
    struct Symbol {
        std::size_t begin, size;
        int prev, next;
        bool frozen;
    };
    std::vector<Symbol> symbols;
    for (std::size_t at = 0; at < text.size();) {
        std::size_t size = 0;
        bool frozen = false;
        for (const auto& piece : user_defined_)
            if (starts_with(text, at, piece)) {
                size = piece.size();
                frozen = true;
                break;
            }
        if (size == 0) size = std::min(utf8_length(static_cast<unsigned char>(text[at])), text.size() - at);
        const int index = static_cast<int>(symbols.size());
        symbols.push_back({at, size, index - 1, -1, frozen});
        if (index > 0) symbols[static_cast<std::size_t>(index - 1)].next = index;
        at += size;
    }

    struct Pair {
        float score;
        int left, right;
        std::size_t size;
    };
    // Highest score first; on equal scores the leftmost pair.
    const auto lower = [](const Pair& a, const Pair& b) { return a.score < b.score || (a.score == b.score && a.left > b.left); };
    std::priority_queue<Pair, std::vector<Pair>, decltype(lower)> agenda(lower);
    const auto consider = [&](int left, int right) {
        if (left < 0 || right < 0) return;
        const auto& l = symbols[static_cast<std::size_t>(left)];
        const auto& r = symbols[static_cast<std::size_t>(right)];
        if (l.frozen || r.frozen) return;
        const auto found = mergeable_.find(std::string(text.substr(l.begin, l.size + r.size)));
        if (found == mergeable_.end()) return;
        agenda.push({model_.pieces[static_cast<std::size_t>(found->second)].score, left, right, l.size + r.size});
    };
    for (int i = 0; i + 1 < static_cast<int>(symbols.size()); ++i) consider(i, i + 1);

    while (!agenda.empty()) {
        const Pair top = agenda.top();
        agenda.pop();
        auto& l = symbols[static_cast<std::size_t>(top.left)];
        auto& r = symbols[static_cast<std::size_t>(top.right)];
        // Stale: one side was merged away since the pair was queued.
        if (l.size == 0 || r.size == 0 || l.size + r.size != top.size || l.next != top.right) continue;
        l.size += r.size;
        l.next = r.next;
        if (r.next >= 0) symbols[static_cast<std::size_t>(r.next)].prev = top.left;
        r.size = 0;
        consider(l.prev, top.left);
        consider(top.left, l.next);
    }

    for (int i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[static_cast<std::size_t>(i)].next) {
        const auto& s = symbols[static_cast<std::size_t>(i)];
        const auto piece = std::string(text.substr(s.begin, s.size));
        if (const auto found = mergeable_.find(piece); found != mergeable_.end()) {
            out.push_back(found->second);
        } else if (model_.byte_fallback) {
            for (const char c : piece) out.push_back(byte_piece_[static_cast<unsigned char>(c)]);
        } else if (out.empty() || out.back() != model_.unk_id) {
            out.push_back(model_.unk_id);  // consecutive unknown pieces become one, as in sentencepiece
        }
    }
}

std::vector<TokenId> SentencePieceBpe::encode(std::string_view raw) const {
    const std::string text = sanitize_utf8(raw);
    std::vector<TokenId> out;
    std::size_t stretch = 0;
    for (std::size_t at = 0; at < text.size();) {
        const std::pair<std::string, TokenId>* matched = nullptr;
        if (text[at] == '<')
            for (const auto& control : control_)
                if (starts_with(text, at, control.first)) {
                    matched = &control;
                    break;
                }
        if (matched == nullptr) {
            ++at;
            continue;
        }
        encode_stretch(std::string_view(text).substr(stretch, at - stretch), out);
        out.push_back(matched->second);
        at += matched->first.size();
        stretch = at;
    }
    encode_stretch(std::string_view(text).substr(stretch), out);
    return out;
}

std::string SentencePieceBpe::token_bytes(TokenId id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= model_.pieces.size()) return {};
    const auto& piece = model_.pieces[static_cast<std::size_t>(id)];
    if (piece.type == SentencePieceModel::PieceType::byte) {
        unsigned value = 0;
        std::sscanf(piece.text.c_str(), "<0x%2X>", &value);
        return std::string(1, static_cast<char>(value));
    }
    if (piece.type == SentencePieceModel::PieceType::control) return {};
    if (piece.type == SentencePieceModel::PieceType::unknown) return " \xE2\x81\x87 ";  // sentencepiece's " ⁇ "
    return replace_all(piece.text, kSpaceMark, " ");
}

std::string SentencePieceBpe::decode(std::span<const TokenId> ids, bool skip_special) const {
    std::string bytes;
    for (const auto id : ids) {
        if (skip_special && is_special(id)) continue;
        if (!skip_special && id >= 0 && static_cast<std::size_t>(id) < model_.pieces.size() &&
            model_.pieces[static_cast<std::size_t>(id)].type == SentencePieceModel::PieceType::control)
            bytes += model_.pieces[static_cast<std::size_t>(id)].text;
        else
            bytes += token_bytes(id);
    }
    // sentencepiece drops the space the dummy prefix put before the first word.
    if (model_.add_dummy_prefix && !bytes.empty() && bytes.front() == ' ') bytes.erase(0, 1);
    return sanitize_utf8(bytes);
}

std::optional<TokenId> SentencePieceBpe::token_id(std::string_view token) const {
    const auto found = all_pieces_.find(std::string(token));
    if (found == all_pieces_.end()) return std::nullopt;
    return found->second;
}

bool SentencePieceBpe::is_special(TokenId id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= model_.pieces.size()) return false;
    return model_.pieces[static_cast<std::size_t>(id)].type == SentencePieceModel::PieceType::control;
}

}  // namespace deepstack::tokenizer

// SentencePiece BPE from a `tokenizer.model` (LLaMA / Vicuna style: identity normaliser, a "▁" dummy prefix,
// spaces escaped to "▁", byte fallback), equal to the sentencepiece library's Encode:
//   user-defined pieces kept whole, then the highest-scoring adjacent pair merged first (ties: leftmost), then
//   pieces outside the vocabulary spelled as <0xNN> byte pieces.
// Control pieces written in the text ("</s>") are split out first and each stretch between them is encoded on its
// own, as transformers' slow LlamaTokenizer (the one the DeepStack code loads) does.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "deepstack/tokenizer.h"
#include "tokenizer/sentencepiece_model.h"

namespace deepstack::tokenizer {

class SentencePieceBpe final : public Tokenizer {
public:
    // Error naming the file for a unigram model, a normaliser other than identity, or a missing byte piece.
    static std::unique_ptr<SentencePieceBpe> load(const std::filesystem::path& tokenizer_model);

    std::vector<TokenId> encode(std::string_view text) const override;
    std::string decode(std::span<const TokenId> ids, bool skip_special) const override;
    std::string token_bytes(TokenId id) const override;
    std::optional<TokenId> token_id(std::string_view token) const override;
    bool is_special(TokenId id) const override;
    std::int64_t size() const override { return static_cast<std::int64_t>(model_.pieces.size()); }

    TokenId bos_id() const { return model_.bos_id; }
    TokenId eos_id() const { return model_.eos_id; }

private:
    SentencePieceBpe() = default;
    void encode_stretch(std::string_view text, std::vector<TokenId>& out) const;  // no control pieces inside
    std::string normalize(std::string_view text) const;

    SentencePieceModel model_;
    std::unordered_map<std::string, TokenId> mergeable_;   // normal, user-defined and unused pieces
    std::unordered_map<std::string, TokenId> all_pieces_;  // every piece, for token_id()
    std::vector<std::string> user_defined_;                // longest first
    std::vector<std::pair<std::string, TokenId>> control_; // control pieces matched in the text, longest first
    TokenId byte_piece_[256] = {};
};

}  // namespace deepstack::tokenizer

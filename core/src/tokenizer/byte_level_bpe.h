// Byte-level BPE from a Hugging Face `tokenizer.json` (GPT-2 / Qwen2 family), equal to `tokenizers`:
//   added tokens split out first (leftmost-longest), NFC on the rest, the pre-tokenizer's split regex (PCRE2 with
//   Unicode properties), bytes mapped to printable characters, then merges by rank.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "deepstack/tokenizer.h"

namespace deepstack::tokenizer {

class SplitRegex;

class ByteLevelBpe final : public Tokenizer {
public:
    static std::unique_ptr<ByteLevelBpe> load(const std::filesystem::path& tokenizer_json);
    ~ByteLevelBpe() override;

    std::vector<TokenId> encode(std::string_view text) const override;
    std::string decode(std::span<const TokenId> ids, bool skip_special) const override;
    std::string token_bytes(TokenId id) const override;
    std::optional<TokenId> token_id(std::string_view token) const override;
    bool is_special(TokenId id) const override;
    std::int64_t size() const override { return static_cast<std::int64_t>(tokens_.size()); }

private:
    ByteLevelBpe() = default;
    void encode_ordinary(std::string_view text, std::vector<TokenId>& out) const;  // no added tokens inside
    void encode_word(std::string_view word, std::vector<TokenId>& out) const;

    struct Merge {
        std::int32_t rank;
        TokenId result;
    };
    struct AddedToken {
        std::string content;
        TokenId id;
        bool special;
    };

    std::vector<std::string> tokens_;  // id -> token string in the byte-level alphabet (or added-token content)
    std::vector<bool> special_;
    std::vector<bool> added_;
    std::unordered_map<std::string, TokenId> vocab_;  // byte-level token string -> id
    std::unordered_map<std::uint64_t, Merge> merges_;  // (left id, right id) -> rank and merged id
    std::vector<AddedToken> added_tokens_;             // longest first
    bool added_first_byte_[256] = {};                   // whether some added token starts with this byte
    TokenId byte_token_[256] = {};                      // the id of each single byte's symbol
    std::unique_ptr<SplitRegex> split_;
    bool normalize_nfc_ = false;
    bool ignore_merges_ = false;
};

}  // namespace deepstack::tokenizer

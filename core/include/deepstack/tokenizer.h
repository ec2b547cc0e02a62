// Text to token ids and back, for the tokenizer files of a model folder.
//
// Byte-level BPE (`tokenizer.json`, Qwen2/Qwen3 style: NFC, a split regex, byte-to-unicode mapping, merges, added
// tokens) equal to Hugging Face `tokenizers`, and sentencepiece BPE (`tokenizer.model`, LLaMA style) equal to the
// sentencepiece library. Special tokens written in the text ("<|im_start|>", "</s>") are recognised.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace deepstack {

using TokenId = std::int32_t;

class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    // Loads the folder's tokenizer.json, else its tokenizer.model; Error naming the file when it is missing, malformed or of a kind this
    // build does not implement.
    static std::unique_ptr<Tokenizer> load(const std::filesystem::path& folder);

    // Invalid UTF-8 in `text` is replaced by U+FFFD first, as a Python str would have it.
    virtual std::vector<TokenId> encode(std::string_view text) const = 0;
    virtual std::string decode(std::span<const TokenId> ids, bool skip_special = false) const = 0;

    // The raw bytes a token stands for (part of a UTF-8 character for some byte-level tokens).
    virtual std::string token_bytes(TokenId id) const = 0;
    virtual std::optional<TokenId> token_id(std::string_view token) const = 0;
    virtual bool is_special(TokenId id) const = 0;
    virtual std::int64_t size() const = 0;  // ids run from 0 to size() - 1
};

// Turns a stream of generated ids into text without ever splitting a UTF-8 character: each push returns the
// text completed so far that was not returned before.
class StreamingDecoder {
public:
    explicit StreamingDecoder(const Tokenizer& tokenizer, bool skip_special = true);
    std::string push(TokenId id);
    // The bytes still held back (an incomplete character at the very end), as U+FFFD.
    std::string finish();

private:
    const Tokenizer& tokenizer_;
    bool skip_special_;
    std::string pending_;
};

// The length of the longest prefix of `bytes` that ends on a UTF-8 character boundary, assuming `bytes` is
// valid UTF-8 up to a possibly incomplete last character.
std::size_t complete_utf8_prefix(std::string_view bytes);

}  // namespace deepstack

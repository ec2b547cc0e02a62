#include "deepstack/tokenizer.h"

#include "deepstack/error.h"
#include "tokenizer/byte_level_bpe.h"
#include "tokenizer/sentencepiece_bpe.h"
#include "tokenizer/unicode.h"

namespace deepstack {

std::unique_ptr<Tokenizer> Tokenizer::load(const std::filesystem::path& folder) {
    if (std::filesystem::exists(folder / "tokenizer.json")) return tokenizer::ByteLevelBpe::load(folder / "tokenizer.json");
    if (std::filesystem::exists(folder / "tokenizer.model")) return tokenizer::SentencePieceBpe::load(folder / "tokenizer.model");
    throw Error(ErrorKind::io, folder.string(), "no tokenizer.json or tokenizer.model in the folder");
}

std::size_t complete_utf8_prefix(std::string_view bytes) {
    // Walk back over at most 3 continuation bytes to the last lead byte and see whether its character is whole.
    const std::size_t n = bytes.size();
    std::size_t back = 0;
    while (back < n && back < 4 && (static_cast<unsigned char>(bytes[n - 1 - back]) & 0xC0) == 0x80) ++back;
    if (back == n) return n;  // only continuation bytes: nothing to wait for
    const auto lead = static_cast<unsigned char>(bytes[n - 1 - back]);
    const std::size_t length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return back + 1 >= length ? n : n - 1 - back;
}

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer, bool skip_special)
    : tokenizer_(tokenizer), skip_special_(skip_special) {}

std::string StreamingDecoder::push(TokenId id) {
    if (skip_special_ && tokenizer_.is_special(id)) return {};
    pending_ += tokenizer_.token_bytes(id);
    const auto complete = complete_utf8_prefix(pending_);
    std::string text = tokenizer::sanitize_utf8(std::string_view(pending_).substr(0, complete));
    pending_.erase(0, complete);
    return text;
}

std::string StreamingDecoder::finish() {
    std::string text = tokenizer::sanitize_utf8(pending_);
    pending_.clear();
    return text;
}

}  // namespace deepstack

#include "tokenizer/unicode.h"

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include "deepstack/error.h"

namespace deepstack::tokenizer {

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

std::string sanitize_utf8(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t n = text.size();
    std::size_t i = 0;
    while (i < n) {
        const unsigned char c = s[i];
        if (c < 0x80) {
            out += static_cast<char>(c);
            ++i;
            continue;
        }
        // Expected length and the allowed range of the second byte (excludes overlongs and surrogates).
        std::size_t length = 0;
        unsigned char low = 0x80, high = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) length = 2;
        else if (c == 0xE0) length = 3, low = 0xA0;
        else if (c >= 0xE1 && c <= 0xEC) length = 3;
        else if (c == 0xED) length = 3, high = 0x9F;
        else if (c >= 0xEE && c <= 0xEF) length = 3;
        else if (c == 0xF0) length = 4, low = 0x90;
        else if (c >= 0xF1 && c <= 0xF3) length = 4;
        else if (c == 0xF4) length = 4, high = 0x8F;
        std::size_t valid = length == 0 ? 0 : 1;
        if (length > 0) {
            while (valid < length && i + valid < n) {
                const unsigned char next = s[i + valid];
                const bool ok = valid == 1 ? (next >= low && next <= high) : (next >= 0x80 && next <= 0xBF);
                if (!ok) break;
                ++valid;
            }
        }
        if (length > 0 && valid == length) {
            out.append(text.substr(i, length));
            i += length;
        } else {
            out += "\xEF\xBF\xBD";  // U+FFFD for the maximal invalid subpart
            i += std::max<std::size_t>(valid, 1);
        }
    }
    return out;
}

std::string nfc(std::string_view text) {
    bool ascii = true;
    for (const char c : text) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
    if (ascii) return std::string(text);
    UErrorCode status = U_ZERO_ERROR;
    const auto* normalizer = icu::Normalizer2::getNFCInstance(status);
    if (U_FAILURE(status)) throw Error(ErrorKind::internal, "", std::string("ICU NFC is unavailable: ") + u_errorName(status));
    const auto input = icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
    if (normalizer->isNormalized(input, status) && U_SUCCESS(status)) return std::string(text);
    status = U_ZERO_ERROR;
    const auto normalized = normalizer->normalize(input, status);
    if (U_FAILURE(status)) throw Error(ErrorKind::internal, "", std::string("NFC failed: ") + u_errorName(status));
    std::string out;
    normalized.toUTF8String(out);
    return out;
}

}  // namespace deepstack::tokenizer

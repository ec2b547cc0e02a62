// The few Unicode operations tokenizers need: UTF-8 validation with U+FFFD replacement, and NFC (through ICU).
#pragma once

#include <string>
#include <string_view>

namespace deepstack::tokenizer {

// `text` with every invalid UTF-8 sequence replaced by U+FFFD (one per maximal invalid subpart, as Python does).
std::string sanitize_utf8(std::string_view text);

// Unicode Normalization Form C of valid UTF-8; ASCII returns unchanged without touching ICU.
std::string nfc(std::string_view text);

// Appends the UTF-8 encoding of `code_point`.
void append_utf8(std::string& out, char32_t code_point);

}  // namespace deepstack::tokenizer

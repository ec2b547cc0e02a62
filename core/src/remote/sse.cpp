#include "remote/sse.h"

#include "deepstack/error.h"

namespace deepstack::remote {

void SseParser::feed(std::string_view bytes) {
    for (const char c : bytes) {
        if (after_cr_ && c == '\n') {  // the LF of a CRLF: the line already ended
            after_cr_ = false;
            continue;
        }
        after_cr_ = c == '\r';
        if (c == '\n' || c == '\r') {
            line(pending_);
            pending_.clear();
            continue;
        }
        if (pending_.size() >= max_line_)
            throw Error(ErrorKind::format, "", "the server sent a line of more than " + std::to_string(max_line_) + " bytes");
        pending_ += c;
    }
}

void SseParser::finish() {
    if (!pending_.empty()) line(pending_);
    pending_.clear();
    line("");
}

void SseParser::line(std::string_view text) {
    if (text.empty()) {
        if (has_data_) on_event_(data_);
        data_.clear();
        has_data_ = false;
        return;
    }
    if (text.front() == ':') return;  // a comment (keep-alive)
    const auto colon = text.find(':');
    const auto field = text.substr(0, colon);
    if (field != "data") return;
    auto value = colon == std::string_view::npos ? std::string_view() : text.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (has_data_) data_ += '\n';
    data_.append(value);
    has_data_ = true;
}

}  // namespace deepstack::remote

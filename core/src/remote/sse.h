// Server-sent events (the streamed answer of an OpenAI-compatible chat API): bytes in, whole events out. Lines end
// in LF, CRLF or CR; "data:" lines of one event are joined with LF; an empty line ends the event; comments (":")
// and other fields are ignored. A line longer than the limit is an Error(format), so a broken server cannot make
// the parser hold unbounded memory. Torch-free.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace deepstack::remote {

class SseParser {
public:
    explicit SseParser(std::function<void(const std::string& data)> on_event, std::size_t max_line = 16u << 20)
        : on_event_(std::move(on_event)), max_line_(max_line) {}
    void feed(std::string_view bytes);
    // The stream ended: an event not yet closed by an empty line is delivered.
    void finish();

private:
    void line(std::string_view text);

    std::function<void(const std::string&)> on_event_;
    std::size_t max_line_;
    std::string pending_;  // an incomplete line
    std::string data_;
    bool has_data_ = false;
    bool after_cr_ = false;
};

}  // namespace deepstack::remote

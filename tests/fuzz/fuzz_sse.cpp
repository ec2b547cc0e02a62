// Server-sent events as a remote engine streams them: the input split in two at a point it chooses itself.
#include <string>
#include <string_view>

#include "deepstack/error.h"
#include "remote/sse.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view all(reinterpret_cast<const char*>(data), size);
    const std::size_t cut = size == 0 ? 0 : data[0] % (size + 1);
    std::size_t bytes = 0;
    deepstack::remote::SseParser parser([&](const std::string& event) { bytes += event.size(); }, 1 << 16);
    try {
        parser.feed(all.substr(0, cut));
        parser.feed(all.substr(cut));
        parser.finish();
    } catch (const deepstack::Error&) {
    }
    return static_cast<int>(bytes & 0);
}

// Boxes and points read out of an answer the model wrote: any text, each item's span inside it and ordered.
#include <cstdlib>
#include <string_view>

#include "deepstack/grounding.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view answer(reinterpret_cast<const char*>(data), size);
    std::size_t previous_end = 0;
    for (const auto& item : deepstack::parse_grounding(answer)) {
        if (item.text_begin < previous_end || item.text_end <= item.text_begin || item.text_end > size) std::abort();
        const auto r = item.region();
        if (!(r.left >= 0 && r.right <= 1 && r.top >= 0 && r.bottom <= 1 && r.left <= r.right && r.top <= r.bottom)) std::abort();
        previous_end = item.text_end;
    }
    return 0;
}

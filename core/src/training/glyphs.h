// The glyph head's score: of the slots where a character is printed, how many the head names (blank slots, the
// large majority, do not count: naming them blank is easy). Internal (LibTorch in the signature).
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace deepstack {

struct GlyphCount {
    std::int64_t printed = 0;  // slots whose target is a character (class > 0)
    std::int64_t named = 0;    // of those, the ones whose most likely class is that character
};

// logits [slots, classes], targets [slots] (0: nothing printed).
inline GlyphCount count_named_glyphs(const torch::Tensor& logits, const torch::Tensor& targets) {
    const auto printed = targets.ne(0);
    return {printed.sum().item<std::int64_t>(), (logits.argmax(1).eq(targets) & printed).sum().item<std::int64_t>()};
}

}  // namespace deepstack

// The glyph head's task (TrainingOptions::glyph_loss): which character each slot of each high-resolution patch
// shows, and its score. Internal (LibTorch in the signatures).
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "deepstack/synthetic.h"
#include "models/deepstack_llama/token_layout.h"

namespace deepstack {

// Each high-resolution patch is cut into kSlotColumns x kSlotRows slots and a slot's class is the character whose
// centre lies in it (0 when none; else the ASCII code - 32, '!' .. '~').
constexpr std::int64_t kSlotColumns = 3, kSlotRows = 2, kGlyphClasses = 95;

// [grid cells (the crop views, row-major), patches per crop, slots]: the class the glyph head should name. The
// page is the grid's square of crops (the views resize it without padding).
torch::Tensor glyph_targets(const std::vector<SyntheticGlyph>& glyphs, const deepstack_llama::CropGrid& grid, std::int64_t crop, std::int64_t patch);

// The score: of the slots where a character is printed, how many the head names (blank slots, the large
// majority, do not count: naming them blank is easy).

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

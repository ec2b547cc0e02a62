// Where an image's tokens come from in Qwen3-VL, without LibTorch: the size a picture is resized to (smart_resize)
// and the stack plan (the merged tokens enter at the input; the DeepStack group of vision block
// deepstack_visual_indexes[k] is added to the same positions after language layer k). Internal.
#pragma once

#include <cstdint>
#include <utility>

#include "deepstack/model_folder.h"
#include "deepstack/stack_plan.h"
#include "models/qwen3_vl/config.h"

namespace deepstack::qwen3_vl {

struct PixelBudget {
    std::int64_t min_pixels = 65536;     // 64 merged tokens
    std::int64_t max_pixels = 16777216;  // 16384 merged tokens
};

// The (height, width) an image is resized to, as transformers' smart_resize (Python's round-half-to-even).
// Throws Error when the aspect ratio exceeds 200:1.
std::pair<std::int64_t, std::int64_t> smart_resize(std::int64_t height, std::int64_t width, std::int64_t factor,
                                                   const PixelBudget& budget);

// The folder's budget unless `requested` sets one; 65536 .. 16777216 pixels when neither does.
PixelBudget effective_budget(const PixelBudget& requested, const ImagePreprocessorConfig& preprocessor);

StackPlan stack_plan(const Config& config, const PixelBudget& budget, std::int64_t width, std::int64_t height);

}  // namespace deepstack::qwen3_vl

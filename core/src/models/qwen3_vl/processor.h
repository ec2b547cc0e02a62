// Where a picture becomes Qwen3-VL's patches: smart_resize to multiples of 32 within a pixel budget, bicubic
// antialiased resize in fixed point (torchvision's uint8 path, which transformers takes on the CPU), (x - mean) / std, the frame duplicated to two, and the patch permutation. Internal.
#pragma once

#include <cstdint>
#include <utility>

#include <torch/types.h>

#include "deepstack/image.h"
#include "deepstack/model_folder.h"
#include "models/qwen3_vl/model.h"

namespace deepstack::qwen3_vl {

struct PixelBudget {
    std::int64_t min_pixels = 65536;     // 64 merged tokens
    std::int64_t max_pixels = 16777216;  // 16384 merged tokens
};

// The (height, width) an image is resized to, as transformers' smart_resize (Python's round-half-to-even).
// Throws Error when the aspect ratio exceeds 200:1.
std::pair<std::int64_t, std::int64_t> smart_resize(std::int64_t height, std::int64_t width, std::int64_t factor,
                                                   const PixelBudget& budget);

struct ProcessedImage {
    torch::Tensor pixel_values;  // [N, 3 * T * P * P] fp32
    Grid grid;                   // (1, H' / P, W' / P)
};

// `preprocessor` holds the folder's preprocessor_config.json values (mean, std, patch and merge sizes).
ProcessedImage preprocess(const RgbImage& image, const ImagePreprocessorConfig& preprocessor, const PixelBudget& budget);

}  // namespace deepstack::qwen3_vl

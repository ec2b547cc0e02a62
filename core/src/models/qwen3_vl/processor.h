// Where a picture becomes Qwen3-VL's patches: smart_resize to multiples of 32 within a pixel budget, bicubic
// antialiased resize in fixed point (torchvision's uint8 path, which transformers takes on the CPU), (x - mean) / std, the frame duplicated to two, and the patch permutation. Internal.
#pragma once

#include <cstdint>
#include <utility>

#include <torch/types.h>

#include "deepstack/image.h"
#include "deepstack/model_folder.h"
#include "models/qwen3_vl/model.h"
#include "models/qwen3_vl/token_layout.h"

namespace deepstack::qwen3_vl {

struct ProcessedImage {
    torch::Tensor pixel_values;  // [N, 3 * T * P * P] fp32
    Grid grid;                   // (1, H' / P, W' / P)
};

// `preprocessor` holds the folder's preprocessor_config.json values (mean, std, patch and merge sizes).
ProcessedImage preprocess(const RgbImage& image, const ImagePreprocessorConfig& preprocessor, const PixelBudget& budget);

}  // namespace deepstack::qwen3_vl

// Antialiased resizing of 8-bit RGB pictures in fixed point, the way the reference preprocessors compute it, so
// that the model sees the very same pixels: torchvision's uint8 path on the CPU (transformers' Qwen3-VL processor)
// and Pillow's Image.resize (the LLaVA / DeepStack processors).
#pragma once

#include "deepstack/image.h"

namespace deepstack {

enum class ResampleFilter {
    bicubic,   // Keys cubic with a = -0.5 (Pillow's BICUBIC; torchvision's bicubic when antialias=True)
    bilinear,  // triangle (Pillow's BILINEAR)
};

// Both references compute each axis's weights in double, normalise them to sum one, round them to integers and then
// accumulate integer products: they differ only in how many fraction bits the weights keep.
enum class FixedPoint {
    torchvision,  // int16 weights, as many bits as the axis's largest weight allows (at most 22)
    pillow,       // int32 weights with 22 fraction bits
};

// Resizes horizontally first, then vertically (each pass rounds to 8 bits), as both references do; an axis whose
// size does not change is left alone. Throws deepstack::Error for an empty input or a target size below 1.
RgbImage resize_antialiased(const RgbImage& image, int width, int height, ResampleFilter filter, FixedPoint precision);

}  // namespace deepstack

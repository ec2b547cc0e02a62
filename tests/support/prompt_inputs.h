// What the engine tests put into a chat: a picture of a fixed byte pattern and greedy decoding settings.
#pragma once

#include <cstdint>
#include <vector>

#include "deepstack/engine.h"
#include "deepstack/image.h"

namespace deepstack::testing {

// A width x height RGB picture whose bytes repeat only after 251 (a prime: neighbouring rows and channels differ,
// so each patch of a tiny model's vision tower sees something else).
inline RgbImage patterned_picture(int width, int height) {
    RgbImage image{width, height, std::vector<std::uint8_t>(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3)};
    for (std::size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<std::uint8_t>((i * 13 + i / 97) % 251);
    return image;
}

// Greedy decoding of at most `tokens` new tokens: the same answer on every run.
inline SamplingSettings greedy(std::int64_t tokens) {
    SamplingSettings settings;
    settings.max_new_tokens = tokens;
    return settings;
}

}  // namespace deepstack::testing

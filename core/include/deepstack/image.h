// Decoded pictures as the models take them: 8-bit RGB, upright.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace deepstack {

struct RgbImage {
    int width = 0;
    int height = 0;
    std::vector<std::uint8_t> pixels;  // row-major, R G B per pixel, width * height * 3 bytes
};

// PNG, JPEG, WebP, TIFF, BMP (whatever this OpenCV decodes). EXIF orientation is applied; grey becomes RGB;
// transparency is composited onto white (as transformers does); 16-bit channels are scaled to 8 bits.
// Throws deepstack::Error naming the file when it cannot be read or decoded.
// `page` counts from 0: a multi-page TIFF's other pages (a scanner's); any other file has only page 0.
RgbImage load_image(const std::filesystem::path& file, int page = 0);
// How many pages load_image can read: a TIFF's images, 1 for anything else.
int image_pages(const std::filesystem::path& file);
RgbImage decode_image(std::span<const std::byte> bytes, const std::string& name_for_errors);

}  // namespace deepstack

// Pictures through the core's loader (OpenCV's decoders: PNG, JPEG, WebP, TIFF, BMP; EXIF; 16-bit; alpha).
#include <span>

#include "deepstack/error.h"
#include "deepstack/image.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        (void)deepstack::decode_image(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size), "fuzz input");
    } catch (const deepstack::Error&) {
    }
    return 0;
}

// GGML's weight formats, the bytes of GGUF files and of our own quantization alike: F32, F16, BF16 and the block
// formats Q8_0, Q4_0 (32 weights a block, one fp16 scale), Q4_K and Q6_K (256-weight super-blocks with 6- or 8-bit
// sub-block scales). Quantization and dequantization equal the gguf package's (gguf.quants) bit for bit where
// it defines them. Rows are whole blocks: a row's length is a multiple of the block size. No LibTorch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace deepstack::quant {

// The values are GGML's type ids, as GGUF files store them.
enum class Format : std::uint32_t { f32 = 0, f16 = 1, q4_0 = 2, q8_0 = 8, q4_k = 12, q6_k = 14, bf16 = 30 };

struct FormatTraits {
    const char* name;          // "q8_0", as in GGUF file names and --weights
    std::int64_t block_size;   // weights per block
    std::int64_t block_bytes;  // bytes per block
};
const FormatTraits& traits(Format format);
std::optional<Format> format_from_ggml_type(std::uint32_t type);  // nullopt: a type this version cannot read
std::optional<Format> format_named(const std::string& name);

// Bytes of a row of `columns` weights; throws Error when `columns` is not a whole number of blocks.
std::size_t row_bytes(Format format, std::int64_t columns);

// One row of weights to the format's bytes (q6_k: dequantization only in this version). Q4_K follows ggml's
// reference quantizer (the gguf package has none to compare with).
void quantize_row(Format format, std::span<const float> values, std::span<std::uint8_t> bytes);
void dequantize_row(Format format, std::span<const std::uint8_t> bytes, std::span<float> values);

std::vector<std::uint8_t> quantize(Format format, std::span<const float> values);

// Q4_K's 6-bit scale and min of sub-block j (0..7) from a super-block's 12 packed bytes (ggml's get_scale_min_k4):
// sub-blocks 0..3 in the low 6 bits of bytes 0..7; 4..7 in the nibbles of bytes 8..11 and the top 2 bits of 0..7.
inline void q4_k_scale_min(const std::uint8_t* packed, int j, int& scale, int& min) {
    if (j < 4) {
        scale = packed[j] & 63;
        min = packed[j + 4] & 63;
    } else {
        scale = (packed[j + 4] & 0x0f) | ((packed[j - 4] >> 6) << 4);
        min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
    }
}
std::vector<float> dequantize(Format format, std::span<const std::uint8_t> bytes, std::int64_t count);

}  // namespace deepstack::quant

// Matrix-vector products with quantized weight rows, the decode step's work: the activations are quantized to
// 8 bits in blocks of 32 (as llama.cpp does), and each weight block meets them in integer dot products. The
// instruction set is chosen at run time from the CPU's features (AVX2 with FMA, else portable C++). No LibTorch;
// the caller splits the rows across threads.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "quant/formats.h"

namespace deepstack::quant {

// 32 activations as int8 with one float scale, and the sums of each half's int8 values (the formats with an
// offset, Q4_0's 8 and Q6_K's 32, and Q4_K's mins need them).
struct ActivationBlock {
    float d = 0;
    std::int32_t half_sums[2] = {0, 0};
    std::int8_t q[32] = {};
};

// How many activations share one scale for `format`'s kernels: 32, or 256 for the K-quants (Q4_K, Q6_K), whose
// kernels then sum a whole 256-weight super-block in integers, scales included, and convert once (llama.cpp's
// Q8_K activations do the same).
std::int64_t activation_group(Format format);

// x [n] (n a multiple of `group`, itself 32 or 256) to blocks of 32: d = max|x| / 127 over each group of `group`
// values (the blocks of a group share it), q = round(x / d).
void quantize_activations(std::span<const float> x, std::span<ActivationBlock> blocks, std::int64_t group = 32);

// y[l * y_stride + r] = row r of the weights . activation vector l, for rows [row_begin, row_end) and every
// vector. `weights` holds the rows back to back, each traits(format).block_bytes * columns / block_size bytes;
// `activations` holds `vectors` runs of columns / 32 blocks, quantized in groups of activation_group(format).
// Formats: q8_0, q4_0, q4_k, q6_k.
void matvec(Format format, const std::uint8_t* weights, std::int64_t columns, std::int64_t row_begin, std::int64_t row_end,
            const ActivationBlock* activations, std::int64_t vectors, float* y, std::int64_t y_stride);

// The instruction set matvec uses on this CPU ("avx2" or "portable"), for bench and the About box.
std::string matvec_kernel_name();

// Testing only: force the portable kernels (true) or let the CPU decide (false).
void use_portable_kernels(bool portable);

}  // namespace deepstack::quant

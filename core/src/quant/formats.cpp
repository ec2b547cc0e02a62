// The block layouts, byte for byte as ggml (ggml-common.h) defines them and the gguf package reads them.
#include "quant/formats.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "deepstack/error.h"
#include "quant/half.h"

namespace deepstack::quant {

namespace {

constexpr std::int64_t kQK = 32;    // weights per Q8_0 / Q4_0 block
constexpr std::int64_t kQKK = 256;  // weights per K-quant super-block

std::uint16_t read_u16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
void write_u16(std::uint8_t* p, std::uint16_t v) {
    p[0] = static_cast<std::uint8_t>(v & 0xff);
    p[1] = static_cast<std::uint8_t>(v >> 8);
}

// C's roundf: halves away from zero (what ggml's reference quantizer and the gguf package's np_roundf do).
float round_half_away(float x) { return std::round(x); }

// ---- Q8_0: fp16 scale d, 32 x int8; w = d * q ------------------------------------------------------------------------
void quantize_q8_0(const float* x, std::uint8_t* block) {
    float amax = 0;
    for (std::int64_t i = 0; i < kQK; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    write_u16(block, float_to_half(d));
    for (std::int64_t i = 0; i < kQK; ++i) block[2 + i] = static_cast<std::uint8_t>(static_cast<std::int8_t>(round_half_away(x[i] * id)));
}
void dequantize_q8_0(const std::uint8_t* block, float* y) {
    const float d = half_to_float(read_u16(block));
    for (std::int64_t i = 0; i < kQK; ++i) y[i] = static_cast<float>(static_cast<std::int8_t>(block[2 + i])) * d;
}

// ---- Q4_0: fp16 scale d, 16 bytes of nibbles (weights 0..15 low, 16..31 high); w = d * (q - 8) ----------------------
void quantize_q4_0(const float* x, std::uint8_t* block) {
    float amax = 0, max = 0;  // the value of largest magnitude, with its sign
    for (std::int64_t i = 0; i < kQK; ++i)
        if (std::fabs(x[i]) > amax) {
            amax = std::fabs(x[i]);
            max = x[i];
        }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    write_u16(block, float_to_half(d));
    for (std::int64_t i = 0; i < kQK / 2; ++i) {
        const auto q0 = std::min<std::uint8_t>(15, static_cast<std::uint8_t>(std::trunc(x[i] * id + 8.5f)));
        const auto q1 = std::min<std::uint8_t>(15, static_cast<std::uint8_t>(std::trunc(x[i + kQK / 2] * id + 8.5f)));
        block[2 + i] = static_cast<std::uint8_t>(q0 | (q1 << 4));
    }
}
void dequantize_q4_0(const std::uint8_t* block, float* y) {
    const float d = half_to_float(read_u16(block));
    for (std::int64_t i = 0; i < kQK / 2; ++i) {
        y[i] = d * static_cast<float>((block[2 + i] & 0x0f) - 8);
        y[i + kQK / 2] = d * static_cast<float>((block[2 + i] >> 4) - 8);
    }
}

// ---- Q4_K: fp16 d, fp16 dmin, 12 bytes of 6-bit scales and mins for 8 sub-blocks of 32, 128 bytes of nibbles
// (each 32 bytes: one sub-block in the low nibbles, the next in the high); w = d * scale * q - dmin * min ---------
void dequantize_q4_k(const std::uint8_t* block, float* y) {
    const float d = half_to_float(read_u16(block));
    const float dmin = half_to_float(read_u16(block + 2));
    const std::uint8_t* scales = block + 4;
    const std::uint8_t* q = block + 16;
    for (int j = 0; j < 8; ++j) {
        int scale = 0, min = 0;
        q4_k_scale_min(scales, j, scale, min);
        const float dl = d * static_cast<float>(scale), ml = dmin * static_cast<float>(min);
        const std::uint8_t* bytes = q + (j / 2) * 32;
        const int shift = (j % 2) * 4;
        for (int i = 0; i < 32; ++i) y[j * 32 + i] = dl * static_cast<float>((bytes[i] >> shift) & 0x0f) - ml;
    }
}

// Round to nearest, ties to even, as ggml's nearest_int does: adding 1.5 * 2^23 leaves the integer in the low
// mantissa bits, rounded by the FPU (|x| < 2^22). Much faster than nearbyint, a library call without SSE4.1.
int nearest_int(float x) {
    const float shifted = x + 12582912.0f;
    return static_cast<int>(std::bit_cast<std::uint32_t>(shifted) & 0x007fffffu) - 0x00400000;
}

// One sub-block of 32 as L[i] in 0..nmax with x ~ scale * L - min: the weighted least-squares fit of ggml's
// make_qkx2_quants. Start from the range (min clamped to at most 0), then try 21 slightly different steps across
// it, refit scale and offset by least squares for each rounding, and keep the one with the smallest weighted
// squared error. Returns the scale; `min_out` receives -offset (>= 0).
float fit_scale_and_min(const float* x, const float* weights, int nmax, std::uint8_t* L, float& min_out) {
    constexpr int n = 32, steps = 20;
    constexpr float first_step = -1.0f, step = 0.1f;
    float min = x[0], max = x[0], sum_w = weights[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        min = std::min(min, x[i]);
        max = std::max(max, x[i]);
        sum_w += weights[i];
        sum_x += weights[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        std::fill(L, L + n, std::uint8_t{0});
        min_out = -min;
        return 0.0f;
    }
    float iscale = static_cast<float>(nmax) / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        L[i] = static_cast<std::uint8_t>(std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax));
        const float diff = scale * L[i] + min - x[i];
        best_error += weights[i] * (diff * diff);
    }
    std::uint8_t trial[n];
    for (int k = 0; k <= steps; ++k) {
        iscale = (first_step + step * static_cast<float>(k) + static_cast<float>(nmax)) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
            trial[i] = static_cast<std::uint8_t>(l);
            const float wl = weights[i] * static_cast<float>(l);
            sum_l += wl;
            sum_l2 += wl * static_cast<float>(l);
            sum_xl += wl * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D <= 0) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {  // the offset may only lower values: refit the scale alone
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float error = 0;
        for (int i = 0; i < n; ++i) {
            const float diff = this_scale * trial[i] + this_min - x[i];
            error += weights[i] * (diff * diff);
        }
        if (error < best_error) {
            std::copy(trial, trial + n, L);
            best_error = error;
            scale = this_scale;
            min = this_min;
        }
    }
    min_out = -min;
    return scale;
}

// Q4_K as ggml's reference quantizer makes it: each sub-block's scale and min fitted (weights favour large values),
// both stored in 6 bits relative to the super-block's largest (fp16 d and dmin), then every weight rounded again
// against the scale and min as stored.
void quantize_q4_k(const float* x, std::uint8_t* block) {
    std::uint8_t L[kQKK];
    float scales[8], mins[8], weights[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
        const float* xs = x + 32 * j;
        float sum_x2 = 0;
        for (int i = 0; i < 32; ++i) sum_x2 += xs[i] * xs[i];
        const float average = std::sqrt(sum_x2 / 32);
        for (int i = 0; i < 32; ++i) weights[i] = average + std::fabs(xs[i]);
        scales[j] = fit_scale_and_min(xs, weights, 15, L + 32 * j, mins[j]);
        max_scale = std::max(max_scale, scales[j]);
        max_min = std::max(max_min, mins[j]);
    }
    const float inverse_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inverse_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    std::uint8_t* packed = block + 4;
    std::fill(packed, packed + 12, std::uint8_t{0});
    for (int j = 0; j < 8; ++j) {
        const auto ls = static_cast<std::uint8_t>(std::min(63, nearest_int(inverse_scale * scales[j])));
        const auto lm = static_cast<std::uint8_t>(std::min(63, nearest_int(inverse_min * mins[j])));
        if (j < 4) {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {  // low 4 bits in bytes 8..11, the top 2 in the top bits of bytes 0..7
            packed[j + 4] = static_cast<std::uint8_t>((ls & 0x0f) | ((lm & 0x0f) << 4));
            packed[j - 4] |= static_cast<std::uint8_t>((ls >> 4) << 6);
            packed[j] |= static_cast<std::uint8_t>((lm >> 4) << 6);
        }
    }
    write_u16(block, float_to_half(max_scale / 63.0f));
    write_u16(block + 2, float_to_half(max_min / 63.0f));
    const float d = half_to_float(read_u16(block)), dmin = half_to_float(read_u16(block + 2));
    for (int j = 0; j < 8; ++j) {
        int scale = 0, min = 0;
        q4_k_scale_min(packed, j, scale, min);
        const float dl = d * static_cast<float>(scale);
        if (dl == 0.0f) continue;  // keeps the first fit's values, as ggml does
        const float ml = dmin * static_cast<float>(min);
        for (int i = 0; i < 32; ++i) L[32 * j + i] = static_cast<std::uint8_t>(std::clamp(nearest_int((x[32 * j + i] + ml) / dl), 0, 15));
    }
    std::uint8_t* q = block + 16;
    for (int j = 0; j < kQKK; j += 64, q += 32)
        for (int i = 0; i < 32; ++i) q[i] = static_cast<std::uint8_t>(L[j + i] | (L[j + i + 32] << 4));
}

// ---- Q6_K: 128 bytes of low nibbles, 64 bytes of high 2-bit pairs, 16 int8 scales (one per 16 weights), fp16 d;
// w = d * scale * (q - 32). Each half of 128 weights: low nibbles from 64 bytes (lo, then hi nibble), high bits
// from 32 bytes (shifts 0, 2, 4, 6 for its four quarters) -------------------------------------------------------------
void dequantize_q6_k(const std::uint8_t* block, float* y) {
    const std::uint8_t* ql = block;
    const std::uint8_t* qh = block + 128;
    const auto* scales = reinterpret_cast<const std::int8_t*>(block + 192);
    const float d = half_to_float(read_u16(block + 208));
    for (int e = 0; e < 256; ++e) {
        const int half = e / 128, index = e % 128;
        const int low = (ql[half * 64 + index % 64] >> ((index / 64) * 4)) & 0x0f;
        const int high = (qh[half * 32 + index % 32] >> ((index / 32) * 2)) & 0x03;
        const float dl = d * static_cast<float>(scales[e / 16]);
        y[e] = dl * static_cast<float>((low | (high << 4)) - 32);
    }
}

const FormatTraits kF32{"f32", 1, 4}, kF16{"f16", 1, 2}, kBF16{"bf16", 1, 2}, kQ8_0{"q8_0", kQK, 2 + kQK},
    kQ4_0{"q4_0", kQK, 2 + kQK / 2}, kQ4_K{"q4_k", kQKK, 4 + 12 + kQKK / 2}, kQ6_K{"q6_k", kQKK, kQKK / 2 + kQKK / 4 + kQKK / 16 + 2};

void check_sizes(Format format, std::size_t values, std::size_t bytes) {
    const auto& t = traits(format);
    if (static_cast<std::int64_t>(values) % t.block_size != 0 ||
        bytes != static_cast<std::size_t>(static_cast<std::int64_t>(values) / t.block_size * t.block_bytes))
        throw Error(ErrorKind::internal, "", std::string(t.name) + ": " + std::to_string(values) + " values do not make " +
                                                 std::to_string(bytes) + " bytes of whole blocks");
}

}  // namespace

const FormatTraits& traits(Format format) {
    switch (format) {
        case Format::f32: return kF32;
        case Format::f16: return kF16;
        case Format::bf16: return kBF16;
        case Format::q8_0: return kQ8_0;
        case Format::q4_0: return kQ4_0;
        case Format::q4_k: return kQ4_K;
        case Format::q6_k: return kQ6_K;
    }
    throw Error(ErrorKind::internal, "", "unknown weight format " + std::to_string(static_cast<std::uint32_t>(format)));
}

std::optional<Format> format_from_ggml_type(std::uint32_t type) {
    for (const auto f : {Format::f32, Format::f16, Format::bf16, Format::q8_0, Format::q4_0, Format::q4_k, Format::q6_k})
        if (static_cast<std::uint32_t>(f) == type) return f;
    return std::nullopt;
}

std::optional<Format> format_named(const std::string& name) {
    for (const auto f : {Format::f32, Format::f16, Format::bf16, Format::q8_0, Format::q4_0, Format::q4_k, Format::q6_k})
        if (name == traits(f).name) return f;
    return std::nullopt;
}

std::size_t row_bytes(Format format, std::int64_t columns) {
    const auto& t = traits(format);
    if (columns % t.block_size != 0)
        throw Error(ErrorKind::shape, "", std::string(t.name) + " rows hold whole blocks of " + std::to_string(t.block_size) +
                                              " weights; a row of " + std::to_string(columns) + " does not");
    return static_cast<std::size_t>(columns / t.block_size * t.block_bytes);
}

void quantize_row(Format format, std::span<const float> x, std::span<std::uint8_t> out) {
    check_sizes(format, x.size(), out.size());
    const auto& t = traits(format);
    const auto blocks = static_cast<std::int64_t>(x.size()) / t.block_size;
    for (std::int64_t b = 0; b < blocks; ++b) {
        const float* in = x.data() + b * t.block_size;
        std::uint8_t* block = out.data() + b * t.block_bytes;
        switch (format) {
            case Format::f32: std::memcpy(block, in, 4); break;
            case Format::f16: write_u16(block, float_to_half(*in)); break;
            case Format::bf16: write_u16(block, float_to_bf16(*in)); break;
            case Format::q8_0: quantize_q8_0(in, block); break;
            case Format::q4_0: quantize_q4_0(in, block); break;
            case Format::q4_k: quantize_q4_k(in, block); break;
            case Format::q6_k:
                throw Error(ErrorKind::unsupported, "", std::string("quantizing to ") + t.name + " is not in this version (reading it is)");
        }
    }
}

void dequantize_row(Format format, std::span<const std::uint8_t> bytes, std::span<float> y) {
    check_sizes(format, y.size(), bytes.size());
    const auto& t = traits(format);
    const auto blocks = static_cast<std::int64_t>(y.size()) / t.block_size;
    for (std::int64_t b = 0; b < blocks; ++b) {
        const std::uint8_t* block = bytes.data() + b * t.block_bytes;
        float* out = y.data() + b * t.block_size;
        switch (format) {
            case Format::f32: std::memcpy(out, block, 4); break;
            case Format::f16: *out = half_to_float(read_u16(block)); break;
            case Format::bf16: *out = bf16_to_float(read_u16(block)); break;
            case Format::q8_0: dequantize_q8_0(block, out); break;
            case Format::q4_0: dequantize_q4_0(block, out); break;
            case Format::q4_k: dequantize_q4_k(block, out); break;
            case Format::q6_k: dequantize_q6_k(block, out); break;
        }
    }
}

std::vector<std::uint8_t> quantize(Format format, std::span<const float> values) {
    std::vector<std::uint8_t> out(row_bytes(format, static_cast<std::int64_t>(values.size())));
    quantize_row(format, values, out);
    return out;
}

std::vector<float> dequantize(Format format, std::span<const std::uint8_t> bytes, std::int64_t count) {
    std::vector<float> out(static_cast<std::size_t>(count));
    dequantize_row(format, bytes, out);
    return out;
}

}  // namespace deepstack::quant

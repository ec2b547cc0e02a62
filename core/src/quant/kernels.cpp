// Integer dot products of weight blocks with 8-bit activation blocks: one portable version of each format, and
// AVX2 versions (compiled for AVX2/FMA/F16C by function attribute, called only where the CPU has them).
#include "quant/kernels.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "deepstack/error.h"
#include "quant/half.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DEEPSTACK_X86 1
#endif

namespace deepstack::quant {

namespace {

std::uint16_t u16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }


using RowDot = float (*)(const std::uint8_t* row, const ActivationBlock* x, std::int64_t blocks);

// ---- portable ------------------------------------------------------------------------------------------------------

float dot_q8_0(const std::uint8_t* w, const ActivationBlock* x, std::int64_t blocks) {
    float sum = 0;
    for (std::int64_t b = 0; b < blocks; ++b, w += 34) {
        std::int32_t s = 0;
        for (int i = 0; i < 32; ++i) s += static_cast<std::int8_t>(w[2 + i]) * x[b].q[i];
        sum += half_to_float(u16(w)) * x[b].d * static_cast<float>(s);
    }
    return sum;
}

float dot_q4_0(const std::uint8_t* w, const ActivationBlock* x, std::int64_t blocks) {
    float sum = 0;
    for (std::int64_t b = 0; b < blocks; ++b, w += 18) {
        std::int32_t s = 0;
        for (int i = 0; i < 16; ++i) s += (w[2 + i] & 0x0f) * x[b].q[i] + (w[2 + i] >> 4) * x[b].q[16 + i];
        s -= 8 * (x[b].half_sums[0] + x[b].half_sums[1]);
        sum += half_to_float(u16(w)) * x[b].d * static_cast<float>(s);
    }
    return sum;
}

float dot_q4_k(const std::uint8_t* w, const ActivationBlock* x, std::int64_t blocks) {
    float sum = 0;
    for (std::int64_t sb = 0; sb < blocks / 8; ++sb, w += 144) {
        const float d = half_to_float(u16(w)), dmin = half_to_float(u16(w + 2));
        for (int j = 0; j < 8; ++j) {
            const auto& xb = x[sb * 8 + j];
            int scale = 0, min = 0;
            q4_k_scale_min(w + 4, j, scale, min);
            const std::uint8_t* q = w + 16 + (j / 2) * 32;
            const int shift = (j % 2) * 4;
            std::int32_t s = 0;
            for (int i = 0; i < 32; ++i) s += ((q[i] >> shift) & 0x0f) * xb.q[i];
            sum += d * static_cast<float>(scale) * xb.d * static_cast<float>(s) -
                   dmin * static_cast<float>(min) * xb.d * static_cast<float>(xb.half_sums[0] + xb.half_sums[1]);
        }
    }
    return sum;
}

float dot_q6_k(const std::uint8_t* w, const ActivationBlock* x, std::int64_t blocks) {
    float sum = 0;
    for (std::int64_t sb = 0; sb < blocks / 8; ++sb, w += 210) {
        const std::uint8_t* ql = w;
        const std::uint8_t* qh = w + 128;
        const auto* scales = reinterpret_cast<const std::int8_t*>(w + 192);
        const float d = half_to_float(u16(w + 208));
        for (int j = 0; j < 8; ++j) {
            const auto& xb = x[sb * 8 + j];
            const int half = j / 4, quarter = j % 4;
            const std::uint8_t* low = ql + half * 64 + (quarter % 2) * 32;
            const std::uint8_t* high = qh + half * 32;
            for (int h = 0; h < 2; ++h) {
                std::int32_t s = 0;
                for (int i = h * 16; i < h * 16 + 16; ++i) {
                    const int u = ((low[i] >> ((quarter / 2) * 4)) & 0x0f) | (((high[i] >> (2 * quarter)) & 0x03) << 4);
                    s += u * xb.q[i];
                }
                s -= 32 * xb.half_sums[h];
                sum += d * static_cast<float>(scales[j * 2 + h]) * xb.d * static_cast<float>(s);
            }
        }
    }
    return sum;
}

// ---- AVX2 ----------------------------------------------------------------------------------------------------------
#ifdef DEEPSTACK_X86
#define DEEPSTACK_AVX2 __attribute__((target("avx2,fma,f16c")))

DEEPSTACK_AVX2 float horizontal_sum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

// Unsigned bytes (at most 127) times signed bytes, summed in fours: 8 x int32 as floats.
DEEPSTACK_AVX2 __m256 dot_u8_s8(__m256i u, __m256i s) {
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}

DEEPSTACK_AVX2 float half_avx2(const std::uint8_t* p) { return _cvtsh_ss(u16(p)); }

// The block loops keep two accumulators (even and odd blocks): one fused multiply-add chain waits 4 cycles per block
// on the last, which capped one thread at about 8 weights a cycle.

DEEPSTACK_AVX2 __m256 q8_0_block(const std::uint8_t* w, const ActivationBlock& x, __m256 acc) {
    const __m256i qw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 2));
    const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q));
    // |w| times x with w's sign: maddubs wants its first operand unsigned.
    const __m256 products = dot_u8_s8(_mm256_sign_epi8(qw, qw), _mm256_sign_epi8(qx, qw));
    return _mm256_fmadd_ps(_mm256_set1_ps(half_avx2(w) * x.d), products, acc);
}

DEEPSTACK_AVX2 float dot_q8_0_avx2(const std::uint8_t* w, const ActivationBlock* x, std::int64_t blocks) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    std::int64_t b = 0;
    for (; b + 1 < blocks; b += 2, w += 68) {
        acc0 = q8_0_block(w, x[b], acc0);
        acc1 = q8_0_block(w + 34, x[b + 1], acc1);
    }
    if (b < blocks) acc0 = q8_0_block(w, x[b], acc0);
    return horizontal_sum(_mm256_add_ps(acc0, acc1));
}

// (Q4_0 keeps one accumulator: two, with the offset kept per chain, measured slower here: 23 against 33 G
// weights/s on one thread.)
DEEPSTACK_AVX2 float dot_q4_0_avx2(const std::uint8_t* w, const ActivationBlock* x, std::int64_t blocks) {
    __m256 acc = _mm256_setzero_ps();
    float offset = 0;
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    for (std::int64_t b = 0; b < blocks; ++b, w += 18) {
        const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 2));
        const __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), nibble);  // weights 0..15, 16..31
        const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].q));
        const float scale = half_avx2(w) * x[b].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(scale), dot_u8_s8(q, qx), acc);
        offset += scale * static_cast<float>(8 * (x[b].half_sums[0] + x[b].half_sums[1]));
    }
    return horizontal_sum(acc) - offset;
}

DEEPSTACK_AVX2 float dot_q4_k_avx2(const std::uint8_t* w, const ActivationBlock* x, std::int64_t blocks) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float mins0 = 0, mins1 = 0;
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    for (std::int64_t sb = 0; sb < blocks / 8; ++sb, w += 144) {
        const float d = half_avx2(w), dmin = half_avx2(w + 2);
        const ActivationBlock* xs = x + sb * 8;
        for (int pair = 0; pair < 4; ++pair) {
            const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 16 + pair * 32));
            const __m256i lo = _mm256_and_si256(raw, nibble), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), nibble);
            int scale0 = 0, min0 = 0, scale1 = 0, min1 = 0;
            q4_k_scale_min(w + 4, 2 * pair, scale0, min0);
            q4_k_scale_min(w + 4, 2 * pair + 1, scale1, min1);
            const ActivationBlock& x0 = xs[2 * pair];
            const ActivationBlock& x1 = xs[2 * pair + 1];
            const __m256i q0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x0.q));
            const __m256i q1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x1.q));
            acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d * static_cast<float>(scale0) * x0.d), dot_u8_s8(lo, q0), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d * static_cast<float>(scale1) * x1.d), dot_u8_s8(hi, q1), acc1);
            mins0 += dmin * static_cast<float>(min0) * x0.d * static_cast<float>(x0.half_sums[0] + x0.half_sums[1]);
            mins1 += dmin * static_cast<float>(min1) * x1.d * static_cast<float>(x1.half_sums[0] + x1.half_sums[1]);
        }
    }
    return horizontal_sum(_mm256_add_ps(acc0, acc1)) - (mins0 + mins1);
}

DEEPSTACK_AVX2 float dot_q6_k_avx2(const std::uint8_t* w, const ActivationBlock* x, std::int64_t blocks) {
    __m256 acc = _mm256_setzero_ps();
    float offset = 0;
    const __m256i nibble = _mm256_set1_epi8(0x0f), two_bits = _mm256_set1_epi8(0x03);
    for (std::int64_t sb = 0; sb < blocks / 8; ++sb, w += 210) {
        const auto* scales = reinterpret_cast<const std::int8_t*>(w + 192);
        const float d = half_avx2(w + 208);
        const ActivationBlock* xs = x + sb * 8;
        for (int half = 0; half < 2; ++half) {
            const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + half * 64));
            const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + half * 64 + 32));
            const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 128 + half * 32));
            const __m256i lows[4] = {_mm256_and_si256(a, nibble), _mm256_and_si256(b, nibble),
                                     _mm256_and_si256(_mm256_srli_epi16(a, 4), nibble), _mm256_and_si256(_mm256_srli_epi16(b, 4), nibble)};
            for (int quarter = 0; quarter < 4; ++quarter) {
                const int j = half * 4 + quarter;
                const __m256i highs = _mm256_and_si256(_mm256_srli_epi16(h, 2 * quarter), two_bits);
                const __m256i u = _mm256_or_si256(lows[quarter], _mm256_slli_epi16(highs, 4));  // 0..63
                const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs[j].q));
                const float s0 = d * static_cast<float>(scales[j * 2]) * xs[j].d, s1 = d * static_cast<float>(scales[j * 2 + 1]) * xs[j].d;
                // Lanes 0..3 hold weights 0..15 (the first scale), lanes 4..7 weights 16..31 (the second).
                acc = _mm256_fmadd_ps(_mm256_setr_ps(s0, s0, s0, s0, s1, s1, s1, s1), dot_u8_s8(u, qx), acc);
                offset += 32.0f * (s0 * static_cast<float>(xs[j].half_sums[0]) + s1 * static_cast<float>(xs[j].half_sums[1]));
            }
        }
    }
    return horizontal_sum(acc) - offset;
}
#endif

// ---- dispatch ------------------------------------------------------------------------------------------------------

struct Kernels {
    RowDot q8_0, q4_0, q4_k, q6_k;
    const char* name;
};
constexpr Kernels kPortable{dot_q8_0, dot_q4_0, dot_q4_k, dot_q6_k, "portable"};
#ifdef DEEPSTACK_X86
constexpr Kernels kAvx2{dot_q8_0_avx2, dot_q4_0_avx2, dot_q4_k_avx2, dot_q6_k_avx2, "avx2"};
#endif

std::atomic<bool> force_portable{false};

const Kernels& kernels() {
    if (force_portable.load(std::memory_order_relaxed)) return kPortable;
#ifdef DEEPSTACK_X86
    static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    if (avx2) return kAvx2;
#endif
    return kPortable;
}

RowDot row_dot(Format format) {
    const auto& k = kernels();
    switch (format) {
        case Format::q8_0: return k.q8_0;
        case Format::q4_0: return k.q4_0;
        case Format::q4_k: return k.q4_k;
        case Format::q6_k: return k.q6_k;
        default: break;
    }
    throw Error(ErrorKind::internal, "", std::string("no integer kernel for ") + traits(format).name + " weights");
}

}  // namespace

void quantize_activations(std::span<const float> x, std::span<ActivationBlock> blocks) {
    if (x.size() != blocks.size() * 32)
        throw Error(ErrorKind::internal, "", std::to_string(x.size()) + " activations do not fill " + std::to_string(blocks.size()) + " blocks of 32");
    for (std::size_t b = 0; b < blocks.size(); ++b) {
        const float* v = x.data() + b * 32;
        float amax = 0;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(v[i]));
        auto& out = blocks[b];
        out.d = amax / 127.0f;
        const float id = out.d != 0.0f ? 1.0f / out.d : 0.0f;
        out.half_sums[0] = out.half_sums[1] = 0;
        for (int i = 0; i < 32; ++i) {
            out.q[i] = static_cast<std::int8_t>(std::nearbyint(v[i] * id));
            out.half_sums[i / 16] += out.q[i];
        }
    }
}

void matvec(Format format, const std::uint8_t* weights, std::int64_t columns, std::int64_t row_begin, std::int64_t row_end,
            const ActivationBlock* activations, std::int64_t vectors, float* y, std::int64_t y_stride) {
    const auto dot = row_dot(format);
    const auto bytes = static_cast<std::int64_t>(row_bytes(format, columns));
    const auto blocks = columns / 32;
    for (std::int64_t r = row_begin; r < row_end; ++r) {
        const std::uint8_t* row = weights + r * bytes;
        for (std::int64_t l = 0; l < vectors; ++l) y[l * y_stride + r] = dot(row, activations + l * blocks, blocks);
    }
}

std::string matvec_kernel_name() { return kernels().name; }

void use_portable_kernels(bool portable) { force_portable.store(portable, std::memory_order_relaxed); }

}  // namespace deepstack::quant

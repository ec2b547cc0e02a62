// Integer dot products of weight blocks with 8-bit activation blocks: one portable version of each format, and
// AVX2 versions (compiled for AVX2/FMA/F16C by function attribute, called only where the CPU has them).
#include "quant/kernels.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "deepstack/error.h"
#include "quant/half.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define DEEPSTACK_X86 1
#endif

namespace deepstack::quant {

namespace {

std::uint16_t u16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }


// `half_sums`: each block's two half sums as int16, back to back (the K-quant AVX2 kernels load 16 at a time).
using RowDot = float (*)(const std::uint8_t* row, const ActivationBlock* x, const std::int16_t* half_sums, std::int64_t blocks);

// ---- portable ------------------------------------------------------------------------------------------------------

float dot_q8_0(const std::uint8_t* w, const ActivationBlock* x, const std::int16_t*, std::int64_t blocks) {
    float sum = 0;
    for (std::int64_t b = 0; b < blocks; ++b, w += 34) {
        std::int32_t s = 0;
        for (int i = 0; i < 32; ++i) s += static_cast<std::int8_t>(w[2 + i]) * x[b].q[i];
        sum += half_to_float(u16(w)) * x[b].d * static_cast<float>(s);
    }
    return sum;
}

float dot_q4_0(const std::uint8_t* w, const ActivationBlock* x, const std::int16_t*, std::int64_t blocks) {
    float sum = 0;
    for (std::int64_t b = 0; b < blocks; ++b, w += 18) {
        std::int32_t s = 0;
        for (int i = 0; i < 16; ++i) s += (w[2 + i] & 0x0f) * x[b].q[i] + (w[2 + i] >> 4) * x[b].q[16 + i];
        s -= 8 * (x[b].half_sums[0] + x[b].half_sums[1]);
        sum += half_to_float(u16(w)) * x[b].d * static_cast<float>(s);
    }
    return sum;
}

float dot_q4_k(const std::uint8_t* w, const ActivationBlock* x, const std::int16_t*, std::int64_t blocks) {
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

float dot_q6_k(const std::uint8_t* w, const ActivationBlock* x, const std::int16_t*, std::int64_t blocks) {
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

DEEPSTACK_AVX2 float dot_q8_0_avx2(const std::uint8_t* w, const ActivationBlock* x, const std::int16_t*, std::int64_t blocks) {
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
DEEPSTACK_AVX2 float dot_q4_0_avx2(const std::uint8_t* w, const ActivationBlock* x, const std::int16_t*, std::int64_t blocks) {
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

// The K-quants meet activations quantized in groups of 256 (one scale per super-block): a super-block's eight
// sub-block sums are scaled by their 6-bit (Q4_K) or 8-bit (Q6_K) scales in 16-bit multiply-adds and summed in
// integers, and converted to float once.

// Q4_K's twelve packed bytes as two 8-byte rows, scales then mins (see q4_k_scale_min): words a, b, c hold bytes
// 0-3, 4-7 and 8-11; sub-blocks 0-3 are the low 6 bits of a (scales) and b (mins), sub-blocks 4-7 the nibbles of c
// with the top 2 bits of a and b above them.
DEEPSTACK_AVX2 void q4_k_scales_and_mins(const std::uint8_t* packed, __m128i& scales, __m128i& mins) {
    std::uint32_t a, b, c;
    std::memcpy(&a, packed, 4);
    std::memcpy(&b, packed + 4, 4);
    std::memcpy(&c, packed + 8, 4);
    const std::uint32_t low6 = 0x3f3f3f3fu, nibbles = 0x0f0f0f0fu, top2 = 0x03030303u;
    scales = _mm_set_epi32(0, 0, static_cast<int>((c & nibbles) | (((a >> 6) & top2) << 4)), static_cast<int>(a & low6));
    mins = _mm_set_epi32(0, 0, static_cast<int>(((c >> 4) & nibbles) | (((b >> 6) & top2) << 4)), static_cast<int>(b & low6));
}

DEEPSTACK_AVX2 float dot_q4_k_avx2(const std::uint8_t* w, const ActivationBlock* x, const std::int16_t* half_sums, std::int64_t blocks) {
    __m256 acc = _mm256_setzero_ps(), acc_mins = _mm256_setzero_ps();
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    for (std::int64_t sb = 0; sb < blocks / 8; ++sb, w += 144) {
        const ActivationBlock* xs = x + sb * 8;
        __m128i scales8, mins8;
        q4_k_scales_and_mins(w + 4, scales8, mins8);
        const __m256i scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scales8));  // 8 x int16, in both halves
        __m256i sum = _mm256_setzero_si256();
        for (int pair = 0; pair < 4; ++pair) {
            const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 16 + pair * 32));
            const __m256i lo = _mm256_and_si256(raw, nibble), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), nibble);
            const __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs[2 * pair].q)));
            const __m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs[2 * pair + 1].q)));
            // Sub-block j's scale in every 16-bit lane: bytes 2j, 2j+1 of `scales` repeated.
            const __m256i s0 = _mm256_shuffle_epi8(scales, _mm256_set1_epi16(static_cast<std::int16_t>((4 * pair + 1) << 8 | (4 * pair))));
            const __m256i s1 = _mm256_shuffle_epi8(scales, _mm256_set1_epi16(static_cast<std::int16_t>((4 * pair + 3) << 8 | (4 * pair + 2))));
            sum = _mm256_add_epi32(sum, _mm256_add_epi32(_mm256_madd_epi16(p0, s0), _mm256_madd_epi16(p1, s1)));
        }
        // The mins meet the sub-blocks' activation sums: each min twice, against the two half sums of its block.
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins8, mins8));
        const __m256i sums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(half_sums + sb * 16));
        const float dx = xs[0].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_avx2(w) * dx), _mm256_cvtepi32_ps(sum), acc);
        acc_mins = _mm256_fmadd_ps(_mm256_set1_ps(half_avx2(w + 2) * dx), _mm256_cvtepi32_ps(_mm256_madd_epi16(sums, mins)), acc_mins);
    }
    return horizontal_sum(_mm256_sub_ps(acc, acc_mins));
}

DEEPSTACK_AVX2 float dot_q6_k_avx2(const std::uint8_t* w, const ActivationBlock* x, const std::int16_t* half_sums, std::int64_t blocks) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i nibble = _mm256_set1_epi8(0x0f), two_bits = _mm256_set1_epi8(0x03);
    // From a register whose every 32-bit lane holds scales (2j, 2j+1): the first in the low half's 16-bit lanes,
    // the second in the high half's.
    const __m256i pair_spread = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    for (std::int64_t sb = 0; sb < blocks / 8; ++sb, w += 210) {
        const ActivationBlock* xs = x + sb * 8;
        const __m256i scales = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 192)));  // 16 x int16
        __m256i sum = _mm256_setzero_si256();
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
                const __m256i products = _mm256_maddubs_epi16(u, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs[j].q)));
                // 16-bit lanes 0..7 hold weights 0..15 (scale 2j), lanes 8..15 weights 16..31 (scale 2j+1).
                const __m256i scale = _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(scales, _mm256_set1_epi32(j)), pair_spread);
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(products, scale));
            }
        }
        // Q6_K's values are stored plus 32: subtract 32 x scale x each half's activation sum.
        const __m256i sums = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(half_sums + sb * 16));
        sum = _mm256_sub_epi32(sum, _mm256_slli_epi32(_mm256_madd_epi16(scales, sums), 5));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_avx2(w + 208) * xs[0].d), _mm256_cvtepi32_ps(sum), acc);
    }
    return horizontal_sum(acc);
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

#ifdef DEEPSTACK_X86
// From CPUID (leaf 1, ECX): clang's __builtin_cpu_supports does not know "f16c".
bool cpu_has_f16c() {
    unsigned int a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(1, &a, &b, &c, &d) != 0 && (c & bit_F16C) != 0;
}
#endif

const Kernels& kernels() {
    if (force_portable.load(std::memory_order_relaxed)) return kPortable;
#ifdef DEEPSTACK_X86
    static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
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

std::int64_t activation_group(Format format) { return format == Format::q4_k || format == Format::q6_k ? 256 : 32; }

void quantize_activations(std::span<const float> x, std::span<ActivationBlock> blocks, std::int64_t group) {
    if (group != 32 && group != 256) throw Error(ErrorKind::internal, "", "activation groups are 32 or 256 values, not " + std::to_string(group));
    if (x.size() != blocks.size() * 32 || x.size() % static_cast<std::size_t>(group) != 0)
        throw Error(ErrorKind::internal, "", std::to_string(x.size()) + " activations do not fill " + std::to_string(blocks.size()) +
                                                 " blocks of 32 in groups of " + std::to_string(group));
    const auto per_group = static_cast<std::size_t>(group / 32);
    float amax = 0;
    for (std::size_t b = 0; b < blocks.size(); ++b) {
        const float* v = x.data() + b * 32;
        if (b % per_group == 0) {
            amax = 0;
            for (std::int64_t i = 0; i < group; ++i) amax = std::max(amax, std::fabs(v[i]));
        }
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
    // The K-quant kernels read one scale per super-block: activations quantized in groups of 32 would be misread.
    const auto per_group = activation_group(format) / 32;
    for (std::int64_t b = 0; b < vectors * blocks; ++b)
        if (activations[b].d != activations[b - b % per_group].d)
            throw Error(ErrorKind::internal, "", std::string(traits(format).name) + " weights need activations quantized in groups of " +
                                                     std::to_string(activation_group(format)));
    std::vector<std::int16_t> half_sums(static_cast<std::size_t>(vectors * blocks * 2));
    for (std::int64_t b = 0; b < vectors * blocks; ++b)
        for (int h = 0; h < 2; ++h) half_sums[static_cast<std::size_t>(2 * b + h)] = static_cast<std::int16_t>(activations[b].half_sums[h]);
    for (std::int64_t r = row_begin; r < row_end; ++r) {
        const std::uint8_t* row = weights + r * bytes;
        for (std::int64_t l = 0; l < vectors; ++l)
            y[l * y_stride + r] = dot(row, activations + l * blocks, half_sums.data() + l * blocks * 2, blocks);
    }
}

std::string matvec_kernel_name() { return kernels().name; }

void use_portable_kernels(bool portable) { force_portable.store(portable, std::memory_order_relaxed); }

}  // namespace deepstack::quant

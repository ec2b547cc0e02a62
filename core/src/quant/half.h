// The 16-bit floats of GGUF files: IEEE half (F16) and bfloat16 (BF16), converted bit-exactly as the gguf package
// (numpy) and ggml convert them: round to nearest, ties to even. Header-only; no LibTorch.
#pragma once

#include <bit>
#include <cstdint>

namespace deepstack::quant {

inline float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exponent = (h >> 10) & 0x1fu;
    const std::uint32_t mantissa = h & 0x3ffu;
    if (exponent == 0x1fu) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));  // inf, NaN
    if (exponent != 0) return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
    // Zero or subnormal: mantissa * 2^-24, exact in fp32.
    const float magnitude = static_cast<float>(mantissa) * 0x1.0p-24f;
    return sign != 0 ? -magnitude : magnitude;
}

// Finite values round to nearest even (values past 65520 become inf, tiny ones subnormal or zero); NaN stays NaN.
inline std::uint16_t float_to_half(float f) {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
    const std::uint16_t sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
    const std::uint32_t magnitude = bits & 0x7fffffffu;
    if (magnitude > 0x7f800000u) return sign | 0x7e00u;   // NaN
    if (magnitude >= 0x477ff000u) return sign | 0x7c00u;  // rounds past the largest half (65504): inf
    if (magnitude < 0x38800000u) {
        // Below the smallest normal half (2^-14): a subnormal, units of 2^-24. Adding 0.5 in fp32 makes the FPU
        // round the value to that unit (ties to even) and leaves the integer in the low mantissa bits.
        const float scaled = std::bit_cast<float>(magnitude) + 0.5f;
        return sign | static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(scaled) - 0x3f000000u);
    }
    // Normal: rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits, ties to even; a carry out of
    // the mantissa raises the exponent, as it should.
    const std::uint32_t odd = (magnitude >> 13) & 1u;
    const std::uint32_t rounded = magnitude + 0xfffu + odd;
    return sign | static_cast<std::uint16_t>((rounded - 0x38000000u) >> 13);
}

inline float bf16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

// Ties to even; a NaN is made quiet (ggml_compute_fp32_to_bf16's rule, which the gguf package repeats).
inline std::uint16_t float_to_bf16(float f) {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 64u);
    return static_cast<std::uint16_t>((static_cast<std::uint64_t>(bits) + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

}  // namespace deepstack::quant

// The pre-norm decoder of LLaMA and Qwen3, written once: RMSNorm, grouped-query attention with RoPE (and Qwen3's
// q/k norm), SwiGLU. A family gives its rotary angles and a hook where its stacked groups join the residual
// stream: before a layer (DeepStack-L) or after it (Qwen3-VL). Internal (LibTorch in the signature).
//
// Axis letters: L new positions, H heads, Hkv key/value heads, D head size, C width.
#pragma once

#include <functional>
#include <vector>

#include <torch/types.h>

#include "models/weight_declaration.h"
#include "nn/attention_probe.h"
#include "nn/blocks.h"
#include "nn/matrix.h"

namespace deepstack::nn {

using DecoderLayer = models::DecoderLayerWeights<torch::Tensor, Matrix>;

struct DecoderGeometry {
    std::int64_t num_attention_heads = 0;
    std::int64_t num_key_value_heads = 0;
    std::int64_t head_dim = 0;
    double rms_norm_eps = 1e-6;
};

// RoPE's inverse frequencies [D/2], fp32, on `device`: made once per model, not per step.
torch::Tensor rope_inverse_frequencies(double theta, std::int64_t head_dim, c10::Device device);

// cos and sin [L, 1, D] in `dtype` from the rotation angles [L, D/2] of each position (the rotate-half layout:
// frequency j turns the pair (j, j + D/2)).
struct Rotation {
    torch::Tensor cos, sin;
    static Rotation from_angles(const torch::Tensor& angles, c10::ScalarType dtype);
};

// Where a family's stacked groups join the residual stream [L, C]; either may be empty.
struct LayerHooks {
    std::function<void(std::int64_t layer, torch::Tensor& hidden)> before_layer;
    std::function<void(std::int64_t layer, torch::Tensor& hidden)> after_layer;
};

// Runs hidden [L, C] through every layer on top of `cache` (which then holds these L positions too) and returns
// the last layer's output, before the final norm. A probe, when given, records attention rows on the way.
torch::Tensor run_decoder(torch::Tensor hidden, const std::vector<DecoderLayer>& layers, const DecoderGeometry& geometry,
                          const Rotation& rotation, KvCache& cache, const LayerHooks& hooks, AttentionProbe* probe);

}  // namespace deepstack::nn

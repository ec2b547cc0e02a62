#include "nn/decoder.h"

#include <cmath>

#include <torch/types.h>

#include "nn/cancel.h"

namespace deepstack::nn {

namespace {

std::optional<torch::Tensor> bias_of(const torch::Tensor& bias) {
    return bias.defined() ? std::optional<torch::Tensor>(bias) : std::nullopt;
}

// One layer on hidden [L, C]; writes this layer's keys and values into the cache.
torch::Tensor decoder_layer(const torch::Tensor& hidden, const DecoderLayer& w, std::int64_t index, const DecoderGeometry& g,
                            const Rotation& rotation, KvCache& cache, AttentionProbe* probe) {
    const auto length = hidden.size(0);
    const auto past = cache.length();
    const double scale = 1.0 / std::sqrt(static_cast<double>(g.head_dim));

    auto x = nn::rms_norm(hidden, w.input_layernorm, g.rms_norm_eps);
    auto q = nn::linear(x, w.q_proj, bias_of(w.q_proj_bias)).view({length, g.num_attention_heads, g.head_dim});
    auto k = nn::linear(x, w.k_proj, bias_of(w.k_proj_bias)).view({length, g.num_key_value_heads, g.head_dim});
    const auto v = nn::linear(x, w.v_proj, bias_of(w.v_proj_bias)).view({length, g.num_key_value_heads, g.head_dim});
    if (w.q_norm.defined()) {  // Qwen3: each head normalised before RoPE
        q = nn::rms_norm(q, w.q_norm, g.rms_norm_eps);
        k = nn::rms_norm(k, w.k_norm, g.rms_norm_eps);
    }
    q = nn::apply_rotary(q, rotation.cos, rotation.sin).transpose(0, 1);  // [H, L, D]
    k = nn::apply_rotary(k, rotation.cos, rotation.sin).transpose(0, 1);  // [Hkv, L, D]
    const auto [keys, values] = cache.append(index, k, v.transpose(0, 1));
    if (probe != nullptr) probe->record(index, q, keys, scale, past);
    const auto attended = nn::attention(q, keys, values, scale, past).transpose(0, 1).reshape({length, -1});  // [L, H * D]
    auto out = hidden + nn::linear(attended, w.o_proj, bias_of(w.o_proj_bias));

    x = nn::rms_norm(out, w.post_attention_layernorm, g.rms_norm_eps);
    return out + nn::linear(torch::silu(nn::linear(x, w.gate_proj)) * nn::linear(x, w.up_proj), w.down_proj);
}

}  // namespace

torch::Tensor rope_inverse_frequencies(double theta, std::int64_t head_dim, c10::Device device) {
    const auto exponents = torch::arange(0, head_dim, 2, torch::kFloat32) / static_cast<double>(head_dim);
    return (1.0 / torch::pow(theta, exponents)).to(device);
}

Rotation Rotation::from_angles(const torch::Tensor& angles, c10::ScalarType dtype) {
    const auto emb = torch::cat({angles, angles}, -1).unsqueeze(1);  // [L, 1, D]
    return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

torch::Tensor run_decoder(torch::Tensor hidden, const std::vector<DecoderLayer>& layers, const DecoderGeometry& geometry,
                          const Rotation& rotation, KvCache& cache, const LayerHooks& hooks, AttentionProbe* probe) {
    for (std::size_t l = 0; l < layers.size(); ++l) {
        stop_if_cancelled();
        const auto index = static_cast<std::int64_t>(l);
        if (hooks.before_layer) hooks.before_layer(index, hidden);
        hidden = decoder_layer(hidden, layers[l], index, geometry, rotation, cache, probe);
        if (hooks.after_layer) hooks.after_layer(index, hidden);
    }
    cache.commit(hidden.size(0));
    return hidden;
}

}  // namespace deepstack::nn

// The Qwen3 decoder of Qwen3-VL: q/k RMSNorm, grouped-query attention, SwiGLU, interleaved MRoPE, and the
// DeepStack step: after layer k, the k-th DeepStack group is added to the hidden states of the image positions.
#include <torch/torch.h>

#include "deepstack/error.h"
#include "models/qwen3_vl/model.h"

namespace deepstack::qwen3_vl {

torch::Tensor Model::decode_layers(torch::Tensor hidden, const torch::Tensor& positions, nn::KvCache& cache,
                                   const torch::Tensor& image_rows, const VisionFeatures* images, nn::AttentionProbe* probe) const {
    const auto& t = config_.text;
    const auto length = hidden.size(0);
    // cos and sin [L, D] of interleaved MRoPE: each frequency rotates with its axis's position.
    const auto freqs = positions.to(device_, torch::kFloat32).unsqueeze(2) * rope_inv_freq_;  // [3, L, D/2]
    const auto picked = freqs.gather(0, mrope_axis_.view({1, 1, -1}).expand({1, length, -1})).squeeze(0);  // [L, D/2]
    const auto emb = torch::cat({picked, picked}, -1);
    const auto cos = emb.cos().to(dtype_), sin = emb.sin().to(dtype_);
    const auto cos_h = cos.unsqueeze(1), sin_h = sin.unsqueeze(1);  // [L, 1, D]
    const double scale = 1.0 / std::sqrt(static_cast<double>(t.head_dim));
    const auto past = cache.length();

    for (std::size_t l = 0; l < text_.layers.size(); ++l) {
        const auto& layer = text_.layers[l];
        auto x = nn::rms_norm(hidden, layer.input_norm, t.rms_norm_eps);
        auto q = nn::rms_norm(nn::linear(x, layer.q_proj).view({length, t.num_attention_heads, t.head_dim}), layer.q_norm, t.rms_norm_eps);
        auto k = nn::rms_norm(nn::linear(x, layer.k_proj).view({length, t.num_key_value_heads, t.head_dim}), layer.k_norm, t.rms_norm_eps);
        const auto v = nn::linear(x, layer.v_proj).view({length, t.num_key_value_heads, t.head_dim});
        q = nn::apply_rotary(q, cos_h, sin_h).transpose(0, 1);  // [H, L, D]
        k = nn::apply_rotary(k, cos_h, sin_h).transpose(0, 1);  // [Hkv, L, D]
        const auto [keys, values] = cache.append(static_cast<std::int64_t>(l), k, v.transpose(0, 1));
        if (probe != nullptr) probe->record(static_cast<std::int64_t>(l), q, keys, scale, past);
        const auto attended = nn::attention(q, keys, values, scale, past).transpose(0, 1).reshape({length, -1});
        hidden = hidden + nn::linear(attended, layer.o_proj);

        x = nn::rms_norm(hidden, layer.post_norm, t.rms_norm_eps);
        hidden = hidden + nn::linear(torch::silu(nn::linear(x, layer.gate_proj)) * nn::linear(x, layer.up_proj), layer.down_proj);

        // DeepStack: group l joins the image positions' residual stream after layer l.
        if (images != nullptr && l < images->deepstack.size())
            hidden.index_put_({image_rows}, hidden.index_select(0, image_rows) + images->deepstack[l].to(dtype_));
    }
    cache.commit(length);
    return hidden;
}

torch::Tensor Model::forward(const std::vector<std::int64_t>& ids, const torch::Tensor& positions, nn::KvCache& cache,
                             const VisionFeatures* images, bool last_only, nn::AttentionProbe* probe) const {
    const auto vocab = config_.text.vocab_size;
    for (const auto id : ids)
        if (id < 0 || id >= vocab)
            throw Error(ErrorKind::internal, "", "token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(vocab));
    if (positions.dim() != 2 || positions.size(0) != 3 || positions.size(1) != static_cast<std::int64_t>(ids.size()))
        throw Error(ErrorKind::internal, "", "position ids must be [3, " + std::to_string(ids.size()) + "], found " +
                                                 shape_to_string(positions.sizes().vec()));
    auto hidden = text_.embed_tokens.index_select(0, torch::tensor(ids, torch::kLong).to(device_));  // [L, Dt]
    // The image rows come from the ids on the host: a decode step then waits on nothing the GPU computes.
    std::vector<std::int64_t> rows;
    for (std::size_t i = 0; i < ids.size(); ++i)
        if (ids[i] == config_.image_token_id) rows.push_back(static_cast<std::int64_t>(i));
    torch::Tensor image_rows;
    if (images != nullptr) {
        if (static_cast<std::int64_t>(rows.size()) != images->embeds.size(0))
            throw Error(ErrorKind::internal, "", "the prompt has " + std::to_string(rows.size()) +
                                                     " image tokens but the images give " + std::to_string(images->embeds.size(0)));
        image_rows = torch::tensor(rows, torch::kLong).to(device_);
        hidden.index_put_({image_rows}, images->embeds.to(dtype_));
    } else if (!rows.empty()) {
        throw Error(ErrorKind::internal, "", "image tokens in a step that brings no image");
    }
    hidden = decode_layers(hidden, positions, cache, image_rows, images, probe);
    if (last_only) hidden = hidden.narrow(0, hidden.size(0) - 1, 1);
    return nn::linear(nn::rms_norm(hidden, text_.norm, config_.text.rms_norm_eps), text_.lm_head);  // [L, V]
}

}  // namespace deepstack::qwen3_vl

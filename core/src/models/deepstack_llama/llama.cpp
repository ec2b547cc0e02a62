// The LLaMA decoder of the DeepStack checkpoints (RMSNorm, RoPE, SiLU MLP, untied head) and the DeepStack-L step:
// just before decoder layer start + k * interval, group k is added to the residual stream at the image positions
// (the authors' custom_llama.py). Only a prefill that carries the image adds; the KV cache keeps the effect.
#include <torch/torch.h>

#include "deepstack/error.h"
#include "models/deepstack_llama/model.h"

namespace deepstack::deepstack_llama {

torch::Tensor Model::decode_layers(torch::Tensor hidden, nn::KvCache& cache, const std::vector<PlacedImage>& images,
                                   nn::AttentionProbe* probe) const {
    const auto& t = config_.text;
    const auto length = hidden.size(0);
    const auto past = cache.length();
    // cos and sin [L, 1, D] of standard RoPE (the rotate-half layout) for positions past .. past + L - 1, made on
    // the device from the model's table.
    const auto positions = torch::arange(past, past + length, torch::TensorOptions().dtype(torch::kFloat32).device(device_));
    const auto freqs = positions.unsqueeze(1) * rope_inv_freq_.unsqueeze(0);  // [L, D/2]
    const auto emb = torch::cat({freqs, freqs}, -1).unsqueeze(1);
    const auto cos = emb.cos().to(dtype_), sin = emb.sin().to(dtype_);
    const double scale = 1.0 / std::sqrt(static_cast<double>(t.head_dim()));

    for (std::int64_t l = 0; l < t.num_hidden_layers; ++l) {
        // DeepStack-L: is layer l one that receives a group?
        const auto offset = l - config_.deepstack_start_id;
        if (offset >= 0 && offset % config_.deepstack_interval == 0) {
            const auto k = static_cast<std::size_t>(offset / config_.deepstack_interval);
            for (const auto& image : images) {
                if (k >= image.features->stacks.size()) continue;
                const auto& stack = image.features->stacks[k];
                const auto rows = std::min(stack.size(0), length - image.offset);  // the authors clip at the sequence end
                hidden.narrow(0, image.offset, rows).add_(stack.narrow(0, 0, rows).to(dtype_));
            }
        }
        const auto& layer = llama_.layers[static_cast<std::size_t>(l)];
        auto x = nn::rms_norm(hidden, layer.input_norm, t.rms_norm_eps);
        auto q = nn::linear(x, layer.q_proj).view({length, t.num_attention_heads, t.head_dim()});
        auto k = nn::linear(x, layer.k_proj).view({length, t.num_key_value_heads, t.head_dim()});
        const auto v = nn::linear(x, layer.v_proj).view({length, t.num_key_value_heads, t.head_dim()});
        q = nn::apply_rotary(q, cos, sin).transpose(0, 1);  // [H, L, D]
        k = nn::apply_rotary(k, cos, sin).transpose(0, 1);  // [Hkv, L, D]
        const auto [keys, values] = cache.append(l, k, v.transpose(0, 1));
        if (probe != nullptr) probe->record(l, q, keys, scale, past);
        const auto attended = nn::attention(q, keys, values, scale, past).transpose(0, 1).reshape({length, -1});
        hidden = hidden + nn::linear(attended, layer.o_proj);

        x = nn::rms_norm(hidden, layer.post_norm, t.rms_norm_eps);
        hidden = hidden + nn::linear(torch::silu(nn::linear(x, layer.gate_proj)) * nn::linear(x, layer.up_proj), layer.down_proj);
    }
    cache.commit(length);
    return hidden;
}

torch::Tensor Model::forward(const std::vector<std::int64_t>& ids, const std::vector<PlacedImage>& images,
                             nn::KvCache& cache, bool last_only, nn::AttentionProbe* probe) const {
    const auto vocab = config_.text.vocab_size;
    const auto length = static_cast<std::int64_t>(ids.size());
    std::vector<bool> covered(ids.size(), false);
    for (const auto& image : images) {
        const auto tokens = image.features->embeds.size(0);
        if (image.offset < 0 || image.offset + tokens > length)
            throw Error(ErrorKind::internal, "", "an image of " + std::to_string(tokens) + " tokens at " + std::to_string(image.offset) +
                                                     " does not fit in " + std::to_string(length) + " new tokens");
        for (auto i = image.offset; i < image.offset + tokens; ++i) covered[static_cast<std::size_t>(i)] = true;
    }
    std::vector<std::int64_t> safe(ids);
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (covered[i]) safe[i] = 0;
        else if (ids[i] < 0 || ids[i] >= vocab)
            throw Error(ErrorKind::internal, "", "token id " + std::to_string(ids[i]) + " is outside the vocabulary of " + std::to_string(vocab));
    }
    auto hidden = llama_.embed_tokens.index_select(0, torch::tensor(safe, torch::kLong).to(device_));  // [L, Dt]
    for (const auto& image : images)
        hidden.narrow(0, image.offset, image.features->embeds.size(0)).copy_(image.features->embeds);
    hidden = decode_layers(hidden, cache, images, probe);
    if (last_only) hidden = hidden.narrow(0, length - 1, 1);
    return nn::linear(nn::rms_norm(hidden, llama_.norm, config_.text.rms_norm_eps), llama_.lm_head);  // [L, V]
}

}  // namespace deepstack::deepstack_llama

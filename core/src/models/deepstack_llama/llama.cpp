// The language side of the DeepStack checkpoints: the image tokens take their place in the sequence, and the shared
// LLaMA decoder (nn/decoder.h) runs with the DeepStack-L step: just before decoder layer start + k * interval,
// group k is added to the residual stream at the image positions (the authors' custom_llama.py). Only a prefill
// that carries the image adds; the KV cache keeps the effect.
#include <torch/types.h>

#include "deepstack/error.h"
#include "models/deepstack_llama/model.h"

namespace deepstack::deepstack_llama {

torch::Tensor Model::forward(const std::vector<std::int64_t>& ids, const std::vector<PlacedImage>& images,
                             nn::KvCache& cache, bool last_only, nn::AttentionProbe* probe, nn::StackEdit* edit) const {
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
    auto hidden = nn::embedding(weights_.language.embed_tokens, torch::tensor(safe, torch::kLong).to(device_), dtype_);  // [L, Dt]
    for (const auto& image : images)
        hidden.narrow(0, image.offset, image.features->embeds.size(0)).copy_(image.features->embeds);
    // Standard RoPE for positions past .. past + L - 1, from the model's table on the device.
    const auto past = cache.length();
    const auto positions = torch::arange(past, past + length, torch::TensorOptions().dtype(torch::kFloat32).device(device_));
    const auto rotation = nn::Rotation::from_angles(positions.unsqueeze(1) * rope_inv_freq_.unsqueeze(0), dtype_);  // angles [L, D/2]
    // DeepStack-L: group k joins the image positions just before layer start + k * interval.
    nn::LayerHooks hooks;
    if (!images.empty())
        hooks.before_layer = [&](std::int64_t layer, torch::Tensor& stream) {
            const auto offset = layer - config_.deepstack_start_id;
            if (offset < 0 || offset % config_.deepstack_interval != 0) return;
            const auto k = static_cast<std::size_t>(offset / config_.deepstack_interval);
            if (edit != nullptr && edit->leaves_out(static_cast<std::int64_t>(k))) return;
            for (const auto& image : images) {
                if (k >= image.features->stacks.size()) continue;
                const auto& stack = image.features->stacks[k];
                const auto rows = std::min(stack.size(0), length - image.offset);  // the authors clip at the sequence end
                auto joined = stream.narrow(0, image.offset, rows);
                const auto added = stack.narrow(0, 0, rows).to(dtype_);
                if (edit != nullptr) edit->joined(static_cast<std::int64_t>(k), joined, added);
                joined.add_(added);
            }
        };
    const auto& t = config_.text;
    hidden = nn::run_decoder(hidden, weights_.language.layers, {t.num_attention_heads, t.num_key_value_heads, t.head_dim(), t.rms_norm_eps},
                             rotation, cache, hooks, probe);
    if (edit != nullptr)
        for (const auto& image : images) edit->reached_top(hidden.narrow(0, image.offset, image.features->embeds.size(0)));
    if (last_only) hidden = hidden.narrow(0, length - 1, 1);
    return nn::linear(nn::rms_norm(hidden, weights_.language.norm, config_.text.rms_norm_eps), weights_.language.lm_head);  // [L, V]
}

}  // namespace deepstack::deepstack_llama

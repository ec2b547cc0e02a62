// The language side of Qwen3-VL: the image tokens take their place in the sequence, interleaved MRoPE gives the
// rotation, and the shared decoder (nn/decoder.h, with Qwen3's q/k norm) runs with the DeepStack step: after
// layer k, the k-th DeepStack group is added to the hidden states of the image positions.
#include <torch/types.h>

#include "deepstack/error.h"
#include "models/qwen3_vl/model.h"

namespace deepstack::qwen3_vl {

torch::Tensor Model::forward(const std::vector<std::int64_t>& ids, const torch::Tensor& positions, nn::KvCache& cache,
                             const VisionFeatures* images, bool last_only, nn::AttentionProbe* probe, nn::StackEdit* edit) const {
    const auto vocab = config_.text.vocab_size;
    for (const auto id : ids)
        if (id < 0 || id >= vocab)
            throw Error(ErrorKind::internal, "", "token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(vocab));
    if (positions.dim() != 2 || positions.size(0) != 3 || positions.size(1) != static_cast<std::int64_t>(ids.size()))
        throw Error(ErrorKind::internal, "", "position ids must be [3, " + std::to_string(ids.size()) + "], found " +
                                                 shape_to_string(positions.sizes().vec()));
    auto hidden = nn::embedding(weights_.language.embed_tokens, torch::tensor(ids, torch::kLong).to(device_), dtype_);  // [L, Dt]
    // The image rows come from the ids on the host: a decode step then waits on nothing the GPU computes. A step
    // without images embeds every id as text, as transformers does when the model itself emits <|image_pad|>.
    torch::Tensor image_rows;
    if (images != nullptr) {
        std::vector<std::int64_t> rows;
        for (std::size_t i = 0; i < ids.size(); ++i)
            if (ids[i] == config_.image_token_id) rows.push_back(static_cast<std::int64_t>(i));
        if (static_cast<std::int64_t>(rows.size()) != images->embeds.size(0))
            throw Error(ErrorKind::internal, "", "the prompt has " + std::to_string(rows.size()) +
                                                     " image tokens but the images give " + std::to_string(images->embeds.size(0)));
        image_rows = torch::tensor(rows, torch::kLong).to(device_);
        hidden.index_put_({image_rows}, images->embeds.to(dtype_));
    }
    // cos and sin of interleaved MRoPE: each frequency rotates with its axis's position.
    const auto angles = positions.to(device_, torch::kFloat32).unsqueeze(2) * rope_inv_freq_;  // [3, L, D/2]
    const auto length = static_cast<std::int64_t>(ids.size());
    const auto picked = angles.gather(0, mrope_axis_.view({1, 1, -1}).expand({1, length, -1})).squeeze(0);  // [L, D/2]
    // DeepStack: group l joins the image positions' residual stream after layer l.
    nn::LayerHooks hooks;
    if (images != nullptr && !images->deepstack.empty())
        hooks.after_layer = [&](std::int64_t layer, torch::Tensor& stream) {
            if (layer >= static_cast<std::int64_t>(images->deepstack.size())) return;
            if (edit != nullptr && edit->leaves_out(layer)) return;
            const auto joined = stream.index_select(0, image_rows);
            const auto added = images->deepstack[static_cast<std::size_t>(layer)].to(dtype_);
            if (edit != nullptr) edit->joined(layer, joined, added);
            stream.index_put_({image_rows}, joined + added);
        };
    hidden = nn::run_decoder(hidden, weights_.language.layers, geometry(), nn::Rotation::from_angles(picked, dtype_), cache, hooks, probe);
    if (edit != nullptr && image_rows.defined()) edit->reached_top(hidden.index_select(0, image_rows));
    if (last_only) hidden = hidden.narrow(0, hidden.size(0) - 1, 1);
    return nn::linear(nn::rms_norm(hidden, weights_.language.norm, config_.text.rms_norm_eps), weights_.language.lm_head);  // [L, V]
}

}  // namespace deepstack::qwen3_vl

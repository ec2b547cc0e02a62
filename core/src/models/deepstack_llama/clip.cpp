// The CLIP vision tower as LLaVA uses it (pre-LayerNorm, quick_gelu, the selected layer's input, CLS dropped, no
// post-LayerNorm) and DeepStack-V: from layer s on, the 2x2 high-resolution crops, 2-D sampled into groups, are
// added to the global view's patch tokens before layers s .. s + 3.
#include <torch/types.h>

#include "models/deepstack_llama/model.h"
#include "nn/cancel.h"

namespace deepstack::deepstack_llama {

namespace {

// x [N, P + 1, Dv] through one pre-LN encoder layer.
torch::Tensor clip_layer(const torch::Tensor& x, const ClipLayer& w, const ClipVisionConfig& c) {
    const auto n = x.size(0), length = x.size(1), heads = c.num_attention_heads, head_dim = c.hidden_size / heads;
    auto h = nn::layer_norm(x, w.norm1_weight, w.norm1_bias, c.layer_norm_eps);
    // [N, L, H, D] -> [N * H, L, D]: every crop's heads are independent attention problems.
    const auto split = [&](const torch::Tensor& t) { return t.view({n, length, heads, head_dim}).transpose(1, 2).reshape({n * heads, length, head_dim}); };
    const auto q = split(nn::linear(h, w.q_weight, w.q_bias));
    const auto k = split(nn::linear(h, w.k_weight, w.k_bias));
    const auto v = split(nn::linear(h, w.v_weight, w.v_bias));
    const auto attended = nn::attention(q, k, v, 1.0 / std::sqrt(static_cast<double>(head_dim)), std::nullopt)
                              .view({n, heads, length, head_dim})
                              .transpose(1, 2)
                              .reshape({n, length, c.hidden_size});
    auto out = x + nn::linear(attended, w.out_weight, w.out_bias);
    h = nn::layer_norm(out, w.norm2_weight, w.norm2_bias, c.layer_norm_eps);
    h = nn::linear(h, w.fc1_weight, w.fc1_bias);
    h = c.hidden_act == "quick_gelu" ? nn::quick_gelu(h) : nn::gelu_erf(h);
    return out + nn::linear(h, w.fc2_weight, w.fc2_bias);
}

// The 2x2 crops' patch tokens [4, P, Dv] as one (2g x 2g) mosaic, sampled into 4 groups: group (i, j) token (r, c)
// is mosaic cell (2r + i, 2c + j), the neighbour of global token (r, c).
torch::Tensor sample_mosaic_2x2(const torch::Tensor& crops, std::int64_t g) {
    const auto width = crops.size(-1);
    const auto mosaic = crops.reshape({2, 2, g, g, width}).permute({0, 2, 1, 3, 4}).reshape({2 * g, 2 * g, width});
    return mosaic.view({g, 2, g, 2, width}).permute({1, 3, 0, 2, 4}).reshape({4, g * g, width});
}

}  // namespace

torch::Tensor Model::vision_features(const torch::Tensor& pixels, nn::StackEdit* edit) const {
    const auto& c = config_.vision;
    const auto n = pixels.size(0);
    auto x = torch::conv2d(pixels.to(device_, dtype_), weights_.clip.patch_embedding, {}, c.patch_size);  // [N, Dv, g, g]
    x = x.flatten(2).transpose(1, 2);                                                            // [N, P, Dv]
    x = torch::cat({weights_.clip.class_embedding.view({1, 1, -1}).expand({n, 1, c.hidden_size}), x}, 1) + weights_.clip.position_embedding;
    x = nn::layer_norm(x, weights_.clip.pre_norm_weight, weights_.clip.pre_norm_bias, c.layer_norm_eps);

    const auto used = config_.vision_layers_used();  // hidden_states[used] is the selected feature
    const auto start = config_.vit_stack_start_layer();
    torch::Tensor groups;  // [4, P, Dv], DeepStack-V only
    for (std::int64_t idx = 0; idx <= used; ++idx) {
        nn::stop_if_cancelled();
        if (start && idx == *start) {
            groups = sample_mosaic_2x2(x.narrow(0, 1, n - 1).narrow(1, 1, c.num_patches()), c.grid());
            x = x.narrow(0, 0, 1);
        }
        if (start && idx >= *start && idx < *start + groups.size(0)) {
            const auto k = idx - *start;
            if (edit == nullptr || !edit->leaves_out(k)) {
                x = x.clone();
                auto patches = x.narrow(1, 1, c.num_patches());
                if (edit != nullptr) edit->joined(k, patches[0], groups[k]);
                patches.add_(groups[k]);
            }
        }
        if (idx < used) x = clip_layer(x, weights_.clip.layers[static_cast<std::size_t>(idx)], c);
    }
    return x.narrow(1, 1, c.num_patches());
}

}  // namespace deepstack::deepstack_llama

// The Qwen3-VL vision tower: patch embedding, interpolated learned positions, 2-D RoPE, ViT blocks, the merger and
// the DeepStack mergers tapped after the blocks named by deepstack_visual_indexes.
#include <algorithm>

#include <torch/types.h>

#include "deepstack/error.h"
#include "models/qwen3_vl/model.h"
#include "nn/cancel.h"

namespace deepstack::qwen3_vl {

// The vision tower's LayerNorms (blocks and mergers): a fixed epsilon the checkpoint's config does not carry.
constexpr double kLayerNormEps = 1e-6;

namespace {

// Patch (row, col) of every patch in processor order: 2x2 merge windows row-major, each window row-major, repeated
// for every temporal frame. Returns [N] rows and [N] cols.
std::pair<torch::Tensor, torch::Tensor> patch_coordinates(const std::vector<Grid>& grids, std::int64_t merge) {
    std::vector<torch::Tensor> rows, cols;
    for (const auto& [t, h, w] : grids) {
        const auto block_rows = torch::arange(h / merge).view({-1, 1, 1, 1}) * merge;
        const auto block_cols = torch::arange(w / merge).view({1, -1, 1, 1}) * merge;
        const auto in_rows = torch::arange(merge).view({1, 1, -1, 1});
        const auto in_cols = torch::arange(merge).view({1, 1, 1, -1});
        const auto r = (block_rows + in_rows).expand({h / merge, w / merge, merge, merge}).flatten();
        const auto c = (block_cols + in_cols).expand({h / merge, w / merge, merge, merge}).flatten();
        rows.push_back(r.repeat({t}));
        cols.push_back(c.repeat({t}));
    }
    return {torch::cat(rows), torch::cat(cols)};
}

// Bilinear taps (align_corners) of `index` on an axis of `size` patches into a table of `side` entries: [N, 2].
std::pair<torch::Tensor, torch::Tensor> axis_taps(const torch::Tensor& index, const torch::Tensor& size, std::int64_t side) {
    const auto src = index.to(torch::kFloat32) * static_cast<double>(side - 1) / torch::clamp(size - 1, 1);
    const auto floor = torch::floor(src);
    const auto offsets = torch::arange(2);
    const auto taps = (floor.to(torch::kLong).unsqueeze(1) + offsets).clamp(0, side - 1);
    const auto distance = (src.unsqueeze(1) - floor.unsqueeze(1) - offsets).abs();
    return {taps, (1 - distance).clamp_min(0)};
}

}  // namespace

VisionFeatures Model::encode_images(const torch::Tensor& pixel_values, const std::vector<Grid>& grids) const {
    const auto& v = config_.vision;
    const auto values_per_patch = v.in_channels * v.temporal_patch_size * v.patch_size * v.patch_size;
    std::int64_t patches = 0;
    for (const auto& [t, h, w] : grids) {
        if (t < 1 || h % v.spatial_merge_size != 0 || w % v.spatial_merge_size != 0)
            throw Error(ErrorKind::internal, "", "image grid (" + std::to_string(t) + ", " + std::to_string(h) + ", " +
                                                     std::to_string(w) + ") is not a whole number of merge windows");
        patches += t * h * w;
    }
    if (pixel_values.dim() != 2 || pixel_values.size(0) != patches || pixel_values.size(1) != values_per_patch)
        throw Error(ErrorKind::shape, "", "pixel_values",
                    "expected shape [" + std::to_string(patches) + ", " + std::to_string(values_per_patch) + "], found " +
                        shape_to_string(pixel_values.sizes().vec()));

    // Patch embedding: the Conv3d with stride = kernel is one matmul over the flattened patch.
    auto hidden = nn::linear(pixel_values.to(device_, dtype_), weights_.visual.patch_weight, weights_.visual.patch_bias);  // [N, Dv]

    // Learned positions, resampled bilinearly (align_corners) from the square table to each image's grid, in fp32.
    const auto side = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(v.num_position_embeddings))));
    const auto [rows, cols] = patch_coordinates(grids, v.spatial_merge_size);
    std::vector<torch::Tensor> heights, widths;
    for (const auto& [t, h, w] : grids) {
        heights.push_back(torch::full({t * h * w}, h, torch::kLong));
        widths.push_back(torch::full({t * h * w}, w, torch::kLong));
    }
    const auto [h_taps, h_weights] = axis_taps(rows, torch::cat(heights), side);
    const auto [w_taps, w_weights] = axis_taps(cols, torch::cat(widths), side);
    const auto indices = (h_taps.unsqueeze(2) * side + w_taps.unsqueeze(1)).reshape({-1, 4}).to(device_);      // [N, 4]
    const auto weights = (h_weights.unsqueeze(2) * w_weights.unsqueeze(1)).reshape({-1, 4}).to(device_);      // [N, 4]
    const auto table = weights_.visual.pos_embed.index_select(0, indices.flatten()).view({patches, 4, -1}).to(torch::kFloat32);
    hidden = hidden + (table * weights.unsqueeze(2)).sum(1).to(dtype_);

    // 2-D rotary embedding: the first half of each head's frequencies rotate with the row, the second with the column.
    const auto head_dim = v.head_dim();
    const auto spatial = head_dim / 2;
    const auto inv_freq = 1.0 / torch::pow(v.rope_theta, torch::arange(0, spatial, 2, torch::kFloat32) / static_cast<double>(spatial));
    const auto row_freqs = rows.to(torch::kFloat32).unsqueeze(1) * inv_freq;  // [N, D/4]
    const auto col_freqs = cols.to(torch::kFloat32).unsqueeze(1) * inv_freq;
    auto recompose = [](const torch::Tensor& a, const torch::Tensor& b) {
        const auto hw = torch::cat({a, b}, -1);
        return torch::cat({hw, hw}, -1).unsqueeze(1).to(torch::kFloat32);  // [N, 1, D]
    };
    const auto cos = recompose(row_freqs.cos(), col_freqs.cos()).to(device_);
    const auto sin = recompose(row_freqs.sin(), col_freqs.sin()).to(device_);

    // Attention runs within each image (and each temporal frame), never across.
    std::vector<std::int64_t> segment_lengths;
    for (const auto& [t, h, w] : grids)
        for (std::int64_t f = 0; f < t; ++f) segment_lengths.push_back(h * w);

    const auto heads = v.num_heads;
    const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
    VisionFeatures out;
    auto run_merger = [&](const PatchMerger& m, const torch::Tensor& x) {
        const auto window = x.size(1) * v.spatial_merge_size * v.spatial_merge_size;
        auto y = m.norm_after_shuffle ? nn::layer_norm(x.reshape({-1, window}), m.norm_weight, m.norm_bias, kLayerNormEps)
                                      : nn::layer_norm(x, m.norm_weight, m.norm_bias, kLayerNormEps).reshape({-1, window});
        y = nn::gelu_erf(nn::linear(y, m.fc1_weight, m.fc1_bias));
        return nn::linear(y, m.fc2_weight, m.fc2_bias);  // [M, Dt]
    };
    for (std::size_t b = 0; b < weights_.visual.blocks.size(); ++b) {
        nn::stop_if_cancelled();
        const auto& block = weights_.visual.blocks[b];
        const auto x = nn::layer_norm(hidden, block.norm1_weight, block.norm1_bias, kLayerNormEps);
        const auto qkv = nn::linear(x, block.qkv_weight, block.qkv_bias).view({patches, 3, heads, head_dim});
        auto q = nn::apply_rotary(qkv.select(1, 0).to(torch::kFloat32), cos, sin).to(dtype_);  // [N, H, D]
        auto k = nn::apply_rotary(qkv.select(1, 1).to(torch::kFloat32), cos, sin).to(dtype_);
        const auto value = qkv.select(1, 2);
        std::vector<torch::Tensor> outputs;
        std::int64_t start = 0;
        for (const auto length : segment_lengths) {
            auto slice = [&](const torch::Tensor& t) { return t.narrow(0, start, length).transpose(0, 1); };  // [H, n, D]
            outputs.push_back(nn::attention(slice(q), slice(k), slice(value), scale, std::nullopt).transpose(0, 1));
            start += length;
        }
        const auto attended = torch::cat(outputs, 0).reshape({patches, -1});
        hidden = hidden + nn::linear(attended, block.proj_weight, block.proj_bias);
        const auto y = nn::layer_norm(hidden, block.norm2_weight, block.norm2_bias, kLayerNormEps);
        hidden = hidden + nn::linear(nn::gelu_tanh(nn::linear(y, block.fc1_weight, block.fc1_bias)), block.fc2_weight, block.fc2_bias);

        const auto& taps = v.deepstack_visual_indexes;
        const auto tap = std::find(taps.begin(), taps.end(), static_cast<std::int64_t>(b));
        if (tap != taps.end())
            out.deepstack.push_back(run_merger(weights_.visual.deepstack_mergers[static_cast<std::size_t>(tap - taps.begin())], hidden));
    }
    out.embeds = run_merger(weights_.visual.merger, hidden);
    return out;
}

}  // namespace deepstack::qwen3_vl

// Loading a DeepStack LLaVA folder into the typed weights; the projector; and where the high-resolution features
// become the stacked groups (the authors' process_plain_deepstack and process_deepstack_with_anyres).
#include <utility>

#include <torch/types.h>

#include "config/checked_config.h"
#include "deepstack/error.h"
#include "models/deepstack_llama/architecture.h"
#include "models/deepstack_llama/model.h"
#include "nn/weights.h"

namespace deepstack::deepstack_llama {

namespace {

// LLaVA-NeXT's grid layout (process_image_grids): the base view's P tokens, then the grid's feature map row by row,
// each row closed by image_newline. cells [G, g * g, C] -> [P + (rows * g) * (columns * g + 1), C].
torch::Tensor with_grid_rows(const torch::Tensor& base, const torch::Tensor& cells, const CropGrid& grid, std::int64_t g,
                             const torch::Tensor& newline) {
    const auto width = cells.size(-1);
    const auto map = cells.view({grid.rows, grid.columns, g, g, width}).permute({0, 2, 1, 3, 4}).reshape({grid.rows * g, grid.columns * g, width});
    const auto newlines = newline.view({1, 1, width}).expand({grid.rows * g, 1, width});
    return torch::cat({base, torch::cat({map, newlines}, 1).reshape({-1, width})}, 0);
}

// The 2-D neighbour sampling of a (rows * g) x (columns * g) feature map into rows * columns groups of g x g:
// group k = (i, j) token (r, c) is map cell (r * rows + i, c * columns + j).
torch::Tensor sample_groups(const torch::Tensor& cells, const CropGrid& grid, std::int64_t g) {
    const auto width = cells.size(-1);
    const auto map = cells.view({grid.rows, grid.columns, g, g, width}).permute({0, 2, 1, 3, 4});  // [rows, g, columns, g, C]
    // Row index R = a * g + y of the map equals r * rows + i: regroup it as (r, i), likewise the columns.
    return map.reshape({g, grid.rows, g, grid.columns, width}).permute({1, 3, 0, 2, 4}).reshape({grid.cells(), g * g, width});
}

}  // namespace

std::unique_ptr<Model> Model::load(const std::filesystem::path& folder, const LoadOptions& options) {
    const auto config_path = folder / "config.json";
    const auto config = config::parse_checked(config::Fields(config::read_json_file(config_path), config_path.string()), parse_config, check_config);
    return nn::bind_checkpoint<Model>(folder, config, options);
}

std::unique_ptr<Model> Model::random(const Config& config, const LoadOptions& options, std::uint64_t seed) {
    return nn::bind_random<Model>(config, options, seed);
}

std::unique_ptr<Model> Model::with_weights(const Config& config, const LoadOptions& options, const nn::TensorSource& source,
                                          const nn::BlockSource& blocks, std::shared_ptr<const void> checkpoint) {
    auto model = std::unique_ptr<Model>(new Model());
    model->config_ = config;
    model->checkpoint_ = std::move(checkpoint);
    model->dtype_ = options.dtype;
    model->device_ = options.device;
    auto& w = model->weights_;
    declare_weights(w, config, nn::binder(source, &model->named_weights_), nn::matrix_binder(source, options.matrices, &model->named_weights_, blocks));
    if (!w.language.lm_head.defined()) w.language.lm_head = w.language.embed_tokens;  // tied: the same rows
    model->rope_inv_freq_ = nn::rope_inverse_frequencies(config.text.rope_theta, config.text.head_dim(), options.device);
    return model;
}

torch::Tensor Model::project(const torch::Tensor& features) const {
    auto x = nn::linear(features, weights_.projector.fc1_weight, weights_.projector.fc1_bias);
    if (weights_.projector.fc2_weight.defined()) x = nn::linear(nn::gelu_erf(x), weights_.projector.fc2_weight, weights_.projector.fc2_bias);  // mlp2x_gelu: exact GELU
    return weights_.projector.norm_weight.defined() ? nn::rms_norm(x, weights_.projector.norm_weight, config_.text.rms_norm_eps) : x;
}

ImageFeatures Model::encode_image(const ImageViews& views, torch::Tensor* vision, nn::StackEdit* edit) const {
    const auto& c = config_;
    const auto g = c.vision.grid();
    const auto& grid = views.grid;
    const auto n = views.pixels.size(0);
    const auto expected = c.is_anyres_deepstack ? (1 + grid.cells()) * (1 + c.num_crops) : 1 + grid.cells();
    if (n != expected)
        throw Error(ErrorKind::internal, "", "expected " + std::to_string(expected) + " views for a " + std::to_string(grid.columns) +
                                                 "x" + std::to_string(grid.rows) + " grid, found " + std::to_string(n));

    ImageFeatures out;
    out.grid = grid;
    if (c.stacks_disabled()) {  // the twin: the global view only
        if (vision != nullptr) {
            *vision = vision_features(views.pixels);
            out.embeds = project(vision->narrow(0, 0, 1))[0];
        } else {
            out.embeds = project(vision_features(views.pixels.narrow(0, 0, 1)))[0];
        }
        return out;
    }
    if (c.vit_stack_start_layer()) {  // DeepStack-V: the stacks were spent inside the vision tower
        out.embeds = project(vision_features(views.pixels, edit))[0];
        return out;
    }
    const auto clip_features = vision_features(views.pixels);  // [N, P, Dv]
    if (vision != nullptr) *vision = clip_features;
    const auto features = project(clip_features);  // [N, P, Dt]
    if (!c.is_anyres_deepstack) {
        out.embeds = features[0];
        auto groups = sample_groups(features.narrow(0, 1, grid.cells()), grid, g);
        for (std::int64_t k = 0; k < c.num_crops; ++k) {  // a grid of fewer cells leaves the last groups zero
            if (k >= groups.size(0)) out.stacks.push_back(torch::zeros_like(features[0]));
            else out.stacks.push_back(weights_.projector.group_embedding.defined() ? groups[k] + weights_.projector.group_embedding[k] : groups[k]);
        }
        return out;
    }
    // DeepStack-L-HD: the input is the LLaVA-NeXT layout of the 1 + G views; each of the 1 + G views was also
    // encoded at twice the size as 2x2 sub-crops, whose mosaic is 2-D sampled into 4 groups laid out the same way.
    const auto inputs = features.narrow(0, 0, 1 + grid.cells());
    out.embeds = with_grid_rows(inputs[0], inputs.narrow(0, 1, grid.cells()), grid, g, weights_.projector.image_newline);
    const auto up = static_cast<std::int64_t>(std::sqrt(static_cast<double>(c.num_crops)));
    const auto fine = features.narrow(0, 1 + grid.cells(), (1 + grid.cells()) * up * up);  // [(1 + G) * 4, P, C]
    const CropGrid sub{up, up};
    std::vector<torch::Tensor> per_view;  // each [4, P, C]
    for (std::int64_t view = 0; view < 1 + grid.cells(); ++view)
        per_view.push_back(sample_groups(fine.narrow(0, view * up * up, up * up), sub, g));
    const auto stacked = torch::stack(per_view, 1);  // [4, 1 + G, P, C]
    for (std::int64_t k = 0; k < up * up; ++k) {
        auto group = with_grid_rows(stacked[k][0], stacked[k].narrow(0, 1, grid.cells()), grid, g, weights_.projector.image_newline);
        out.stacks.push_back(weights_.projector.group_embedding.defined() ? group + weights_.projector.group_embedding[k] : group);
    }
    return out;
}

nn::KvCache Model::new_cache(std::int64_t capacity) const {
    const auto& t = config_.text;
    return nn::KvCache(t.num_hidden_layers, t.num_key_value_heads, t.head_dim(), capacity,
                       torch::TensorOptions().dtype(dtype_).device(device_));
}

}  // namespace deepstack::deepstack_llama

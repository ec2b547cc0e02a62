// Loading a DeepStack LLaVA folder into the typed weights; the projector; and where the high-resolution features
// become the stacked groups (the authors' process_plain_deepstack and process_deepstack_with_anyres).
#include <torch/torch.h>

#include "config/json_fields.h"
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
    const auto json = config::read_json_file(config_path);
    auto model = std::unique_ptr<Model>(new Model());
    model->config_ = parse_config(config::Fields(json, config_path.string()));
    if (const auto problems = check_config(model->config_); !problems.empty())
        throw Error(ErrorKind::config, config_path.string(), problems.front());
    model->dtype_ = options.dtype;
    model->device_ = options.device;
    model->checkpoint_ = std::make_shared<const Checkpoint>(Checkpoint::open(folder));
    const nn::WeightStore store(*model->checkpoint_, describe(model->config_).tensors, options.dtype, options.device,
                                options.progress);
    model->take_weights([&](const std::string& name) { return store.get(name); }, store.has("lm_head.weight"));
    return model;
}

std::unique_ptr<Model> Model::random(const Config& config, const LoadOptions& options, std::uint64_t seed) {
    if (const auto problems = check_config(config); !problems.empty()) throw Error(ErrorKind::config, "", problems.front());
    auto model = std::unique_ptr<Model>(new Model());
    model->config_ = config;
    model->dtype_ = options.dtype;
    model->device_ = options.device;
    nn::RandomWeights weights(describe(config).tensors, options.dtype, options.device, seed);
    model->take_weights([&](const std::string& name) { return weights.get(name); }, !config.text.tie_word_embeddings);
    return model;
}

void Model::take_weights(const std::function<torch::Tensor(const std::string&)>& get_by_name, bool has_lm_head) {
    const auto& c = config_;
    const auto get = [&](const std::string& name) {
        auto tensor = get_by_name(name);
        named_weights_.emplace_back(name, tensor);
        return tensor;
    };
    const std::string vp = "model.vision_tower.vision_tower.vision_model.";
    clip_.class_embedding = get(vp + "embeddings.class_embedding");
    clip_.patch_embedding = get(vp + "embeddings.patch_embedding.weight");
    clip_.position_embedding = get(vp + "embeddings.position_embedding.weight");
    clip_.pre_norm_weight = get(vp + "pre_layrnorm.weight");
    clip_.pre_norm_bias = get(vp + "pre_layrnorm.bias");
    // Only the layers that produce the selected feature are kept (LLaVA takes the input of the last one).
    for (std::int64_t i = 0; i < c.vision_layers_used(); ++i) {
        const auto p = vp + "encoder.layers." + std::to_string(i) + ".";
        clip_.layers.push_back({get(p + "layer_norm1.weight"), get(p + "layer_norm1.bias"), get(p + "self_attn.q_proj.weight"),
                                get(p + "self_attn.q_proj.bias"), get(p + "self_attn.k_proj.weight"), get(p + "self_attn.k_proj.bias"),
                                get(p + "self_attn.v_proj.weight"), get(p + "self_attn.v_proj.bias"),
                                get(p + "self_attn.out_proj.weight"), get(p + "self_attn.out_proj.bias"),
                                get(p + "layer_norm2.weight"), get(p + "layer_norm2.bias"), get(p + "mlp.fc1.weight"),
                                get(p + "mlp.fc1.bias"), get(p + "mlp.fc2.weight"), get(p + "mlp.fc2.bias")});
    }
    if (c.mm_projector_type == "linear") {
        projector_.fc1_weight = get("model.mm_projector.weight");
        projector_.fc1_bias = get("model.mm_projector.bias");
    } else {
        projector_.fc1_weight = get("model.mm_projector.0.weight");
        projector_.fc1_bias = get("model.mm_projector.0.bias");
        projector_.fc2_weight = get("model.mm_projector.2.weight");
        projector_.fc2_bias = get("model.mm_projector.2.bias");
    }
    if (c.mm_projector_norm) projector_.norm_weight = get("model.mm_projector_norm.weight");
    if (c.deepstack_group_embedding) projector_.group_embedding = get("model.deepstack_group_embedding");
    if (c.is_anyres_deepstack) image_newline_ = get("model.image_newline");

    llama_.embed_tokens = get("model.embed_tokens.weight");
    for (std::int64_t l = 0; l < c.text.num_hidden_layers; ++l) {
        const auto p = "model.layers." + std::to_string(l) + ".";
        llama_.layers.push_back({get(p + "input_layernorm.weight"), get(p + "self_attn.q_proj.weight"),
                                 get(p + "self_attn.k_proj.weight"), get(p + "self_attn.v_proj.weight"),
                                 get(p + "self_attn.o_proj.weight"), get(p + "post_attention_layernorm.weight"),
                                 get(p + "mlp.gate_proj.weight"), get(p + "mlp.up_proj.weight"), get(p + "mlp.down_proj.weight")});
    }
    llama_.norm = get("model.norm.weight");
    llama_.lm_head = has_lm_head ? get("lm_head.weight") : llama_.embed_tokens;
    const auto d = c.text.head_dim();
    rope_inv_freq_ = (1.0 / torch::pow(c.text.rope_theta, torch::arange(0, d, 2, torch::kFloat32) / static_cast<double>(d))).to(device_);
}

torch::Tensor Model::project(const torch::Tensor& features) const {
    auto x = nn::linear(features, projector_.fc1_weight, projector_.fc1_bias);
    if (projector_.fc2_weight.defined()) x = nn::linear(nn::gelu_erf(x), projector_.fc2_weight, projector_.fc2_bias);  // mlp2x_gelu: exact GELU
    return projector_.norm_weight.defined() ? nn::rms_norm(x, projector_.norm_weight, config_.text.rms_norm_eps) : x;
}

ImageFeatures Model::encode_image(const ImageViews& views, torch::Tensor* vision) const {
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
        out.embeds = project(vision_features(views.pixels))[0];
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
            else out.stacks.push_back(projector_.group_embedding.defined() ? groups[k] + projector_.group_embedding[k] : groups[k]);
        }
        return out;
    }
    // DeepStack-L-HD: the input is the LLaVA-NeXT layout of the 1 + G views; each of the 1 + G views was also
    // encoded at twice the size as 2x2 sub-crops, whose mosaic is 2-D sampled into 4 groups laid out the same way.
    const auto inputs = features.narrow(0, 0, 1 + grid.cells());
    out.embeds = with_grid_rows(inputs[0], inputs.narrow(0, 1, grid.cells()), grid, g, image_newline_);
    const auto up = static_cast<std::int64_t>(std::sqrt(static_cast<double>(c.num_crops)));
    const auto fine = features.narrow(0, 1 + grid.cells(), (1 + grid.cells()) * up * up);  // [(1 + G) * 4, P, C]
    const CropGrid sub{up, up};
    std::vector<torch::Tensor> per_view;  // each [4, P, C]
    for (std::int64_t view = 0; view < 1 + grid.cells(); ++view)
        per_view.push_back(sample_groups(fine.narrow(0, view * up * up, up * up), sub, g));
    const auto stacked = torch::stack(per_view, 1);  // [4, 1 + G, P, C]
    for (std::int64_t k = 0; k < up * up; ++k) {
        auto group = with_grid_rows(stacked[k][0], stacked[k].narrow(0, 1, grid.cells()), grid, g, image_newline_);
        out.stacks.push_back(projector_.group_embedding.defined() ? group + projector_.group_embedding[k] : group);
    }
    return out;
}

nn::KvCache Model::new_cache(std::int64_t capacity) const {
    const auto& t = config_.text;
    return nn::KvCache(t.num_hidden_layers, t.num_key_value_heads, t.head_dim(), capacity,
                       torch::TensorOptions().dtype(dtype_).device(device_));
}

}  // namespace deepstack::deepstack_llama

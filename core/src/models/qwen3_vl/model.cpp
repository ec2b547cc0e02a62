// Loading a Qwen3-VL folder into the typed weights, and the prompt's multimodal position ids.
#include <torch/torch.h>

#include "config/json_fields.h"
#include "deepstack/error.h"
#include "models/qwen3_vl/architecture.h"
#include "models/qwen3_vl/model.h"
#include "nn/weights.h"

namespace deepstack::qwen3_vl {

std::unique_ptr<Model> Model::load(const std::filesystem::path& folder, const LoadOptions& options) {
    const auto config_path = folder / "config.json";
    const auto json = config::read_json_file(config_path);
    auto model = std::unique_ptr<Model>(new Model());
    model->config_ = parse_config(config::Fields(json, config_path.string()));
    if (model->config_.model_type != "qwen3_vl")
        throw Error(ErrorKind::unsupported, config_path.string(),
                    "model_type '" + model->config_.model_type + "' is recognised but cannot be run by this version");
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

void Model::take_weights(const std::function<torch::Tensor(const std::string&)>& get, bool has_lm_head) {
    const auto& c = config_;
    auto& v = vision_;
    const std::string vp = "model.visual.";
    v.patch_weight = get(vp + "patch_embed.proj.weight").reshape({c.vision.hidden_size, -1});
    v.patch_bias = get(vp + "patch_embed.proj.bias");
    v.pos_embed = get(vp + "pos_embed.weight");
    for (std::int64_t i = 0; i < c.vision.depth; ++i) {
        const auto b = vp + "blocks." + std::to_string(i) + ".";
        v.blocks.push_back({get(b + "norm1.weight"), get(b + "norm1.bias"), get(b + "attn.qkv.weight"),
                            get(b + "attn.qkv.bias"), get(b + "attn.proj.weight"), get(b + "attn.proj.bias"),
                            get(b + "norm2.weight"), get(b + "norm2.bias"), get(b + "mlp.linear_fc1.weight"),
                            get(b + "mlp.linear_fc1.bias"), get(b + "mlp.linear_fc2.weight"),
                            get(b + "mlp.linear_fc2.bias")});
    }
    auto merger = [&](const std::string& m, bool after_shuffle) {
        return PatchMerger{get(m + "norm.weight"), get(m + "norm.bias"), get(m + "linear_fc1.weight"),
                           get(m + "linear_fc1.bias"), get(m + "linear_fc2.weight"), get(m + "linear_fc2.bias"),
                           after_shuffle};
    };
    v.merger = merger(vp + "merger.", false);
    for (std::size_t k = 0; k < c.vision.deepstack_visual_indexes.size(); ++k)
        v.deepstack_mergers.push_back(merger(vp + "deepstack_merger_list." + std::to_string(k) + ".", true));

    auto& t = text_;
    const std::string lp = "model.language_model.";
    t.embed_tokens = get(lp + "embed_tokens.weight");
    for (std::int64_t l = 0; l < c.text.num_hidden_layers; ++l) {
        const auto p = lp + "layers." + std::to_string(l) + ".";
        t.layers.push_back({get(p + "input_layernorm.weight"), get(p + "self_attn.q_proj.weight"),
                            get(p + "self_attn.k_proj.weight"), get(p + "self_attn.v_proj.weight"),
                            get(p + "self_attn.o_proj.weight"), get(p + "self_attn.q_norm.weight"),
                            get(p + "self_attn.k_norm.weight"), get(p + "post_attention_layernorm.weight"),
                            get(p + "mlp.gate_proj.weight"), get(p + "mlp.up_proj.weight"),
                            get(p + "mlp.down_proj.weight")});
    }
    t.norm = get(lp + "norm.weight");
    // A stored lm_head wins even when the config says tied: some re-saves keep a copy (and 8B is untied).
    t.lm_head = has_lm_head ? get("lm_head.weight") : t.embed_tokens;

    // Interleaved MRoPE: frequency j follows the T, H or W position by the pattern T H W T H W ... for as many
    // frequencies per axis as mrope_section gives, and T beyond.
    const auto& tc = c.text;
    const auto half = tc.head_dim / 2;
    rope_inv_freq_ = (1.0 / torch::pow(tc.rope_theta, torch::arange(0, tc.head_dim, 2, torch::kFloat32) / static_cast<double>(tc.head_dim)))
                         .to(device_);
    auto axis = torch::zeros({half}, torch::kLong);
    for (std::int64_t a = 1; a <= 2; ++a)
        for (std::int64_t j = a; j < std::min(half, tc.mrope_section[static_cast<std::size_t>(a)] * 3); j += 3) axis[j] = a;
    mrope_axis_ = axis.to(device_);
}

std::unique_ptr<Model> Model::random(const Config& config, const LoadOptions& options, std::uint64_t seed) {
    if (const auto problems = check_config(config); !problems.empty()) throw Error(ErrorKind::config, "", problems.front());
    auto model = std::unique_ptr<Model>(new Model());
    model->config_ = config;
    model->dtype_ = options.dtype;
    model->device_ = options.device;
    nn::RandomWeights weights(describe(config).tensors, options.dtype, options.device, seed);
    model->take_weights([&](const std::string& name) { return weights.get(name); }, !config.tie_word_embeddings);
    return model;
}

nn::KvCache Model::new_cache(std::int64_t capacity) const {
    const auto& t = config_.text;
    return nn::KvCache(t.num_hidden_layers, t.num_key_value_heads, t.head_dim, capacity,
                       torch::TensorOptions().dtype(dtype_).device(device_));
}

RopeIndex Model::rope_index(const std::vector<std::int64_t>& ids, const std::vector<Grid>& grids, std::int64_t start) const {
    const auto merge = config_.vision.spatial_merge_size;
    std::vector<std::int64_t> t_row, h_row, w_row;
    t_row.reserve(ids.size());
    h_row.reserve(ids.size());
    w_row.reserve(ids.size());
    std::int64_t next = start;  // the position of the next text token
    std::size_t image = 0;
    for (std::size_t i = 0; i < ids.size();) {
        if (ids[i] != config_.image_token_id) {
            t_row.push_back(next);
            h_row.push_back(next);
            w_row.push_back(next);
            ++next;
            ++i;
            continue;
        }
        // A run of image tokens is one image: (T, H, W) = (s, s + row, s + col) over its merged grid.
        std::size_t run = 0;
        while (i + run < ids.size() && ids[i + run] == config_.image_token_id) ++run;
        if (image >= grids.size())
            throw Error(ErrorKind::internal, "", "the prompt has more image-token runs than the " +
                                                     std::to_string(grids.size()) + " image(s) given");
        const auto [gt, gh, gw] = grids[image];
        const auto rows = gh / merge, cols = gw / merge;
        if (static_cast<std::int64_t>(run) != gt * rows * cols)
            throw Error(ErrorKind::internal, "", "image " + std::to_string(image) + " needs " + std::to_string(gt * rows * cols) +
                                                     " image tokens, the prompt has a run of " + std::to_string(run));
        for (std::int64_t f = 0; f < gt; ++f)
            for (std::int64_t r = 0; r < rows; ++r)
                for (std::int64_t c = 0; c < cols; ++c) {
                    t_row.push_back(next + f);
                    h_row.push_back(next + r);
                    w_row.push_back(next + c);
                }
        next += std::max(rows, cols);
        i += run;
        ++image;
    }
    if (image != grids.size())
        throw Error(ErrorKind::internal, "", std::to_string(grids.size()) + " image(s) given but the prompt places " +
                                                 std::to_string(image));
    RopeIndex index;
    index.positions = torch::stack({torch::tensor(t_row, torch::kLong), torch::tensor(h_row, torch::kLong),
                                    torch::tensor(w_row, torch::kLong)});
    std::int64_t max_position = start - 1;
    for (const auto* row : {&t_row, &h_row, &w_row})
        for (const auto p : *row) max_position = std::max(max_position, p);
    index.next_position = max_position + 1;
    index.delta = index.next_position - static_cast<std::int64_t>(ids.size()) - start;
    return index;
}

}  // namespace deepstack::qwen3_vl

// Loading a Qwen3-VL folder into the typed weights, and the prompt's multimodal position ids.
#include <set>
#include <utility>

#include <torch/types.h>

#include "config/checked_config.h"
#include "deepstack/error.h"
#include "models/qwen3_vl/architecture.h"
#include "models/qwen3_vl/model.h"
#include "nn/weights.h"

namespace deepstack::qwen3_vl {

std::unique_ptr<Model> Model::load(const std::filesystem::path& folder, const LoadOptions& options) {
    const auto config_path = folder / "config.json";
    // A sibling model_type (the MoE variant) parses too: refused as unsupported before its sizes are checked.
    const auto runnable = [&](const config::Fields& root) {
        auto config = parse_config(root);
        if (config.model_type != "qwen3_vl")
            throw Error(ErrorKind::unsupported, config_path.string(),
                        "model_type '" + config.model_type + "' is recognised but cannot be run by this version");
        return config;
    };
    const auto config = config::parse_checked(config::Fields(config::read_json_file(config_path), config_path.string()), runnable, check_config);
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
    declare_weights(w, config, nn::binder(source), nn::matrix_binder(source, options.matrices, nullptr, blocks));
    w.visual.patch_weight = w.visual.patch_weight.reshape({config.vision.hidden_size, -1});  // the Conv3d as one matmul
    if (!w.language.lm_head.defined()) w.language.lm_head = w.language.embed_tokens;  // tied: the same rows

    // Interleaved MRoPE: frequency j follows the T, H or W position by the pattern T H W T H W ... for as many
    // frequencies per axis as mrope_section gives, and T beyond.
    const auto& t = config.text;
    const auto half = t.head_dim / 2;
    model->rope_inv_freq_ = nn::rope_inverse_frequencies(t.rope_theta, t.head_dim, options.device);
    auto axis = torch::zeros({half}, torch::kLong);
    for (std::int64_t a = 1; a <= 2; ++a)
        for (std::int64_t j = a; j < std::min(half, t.mrope_section[static_cast<std::size_t>(a)] * 3); j += 3) axis[j] = a;
    model->mrope_axis_ = axis.to(options.device);
    return model;
}

std::uint64_t Model::decoder_weight_bytes() const {
    const auto tensor_bytes = [](const torch::Tensor& t) { return t.defined() ? static_cast<std::uint64_t>(t.numel()) * t.element_size() : 0; };
    const auto& language = weights_.language;
    std::uint64_t bytes = language.lm_head.bytes() + tensor_bytes(language.norm);
    for (const auto& l : language.layers) {
        for (const auto* m : {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj}) bytes += m->bytes();
        for (const auto* t : {&l.input_layernorm, &l.post_attention_layernorm, &l.q_norm, &l.k_norm}) bytes += tensor_bytes(*t);
    }
    return bytes;
}

std::uint64_t Model::weight_bytes() const {
    auto walked = weights_;  // the declaration walks mutable slots; the copy shares every tensor
    std::set<const void*> seen;
    std::uint64_t bytes = 0;
    const auto count = [&](const torch::Tensor& t) {
        if (t.defined() && seen.insert(t.data_ptr()).second) bytes += static_cast<std::uint64_t>(t.numel()) * t.element_size();
    };
    const models::Declare<torch::Tensor> tensor = [&](torch::Tensor* slot, const std::string&, const Shape&, const char*, bool) {
        if (slot != nullptr) count(*slot);
    };
    const models::Declare<nn::Matrix> matrix = [&](nn::Matrix* slot, const std::string&, const Shape&, const char*, bool) {
        if (slot != nullptr && slot->defined()) count(slot->is_quantized() ? slot->blocks() : slot->dense());
    };
    declare_weights(walked, config_, tensor, matrix);
    return bytes;
}

nn::DecoderGeometry Model::geometry() const {
    const auto& t = config_.text;
    return {t.num_attention_heads, t.num_key_value_heads, t.head_dim, t.rms_norm_eps};
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

// Qwen3-VL's tensors, each declared once under its checkpoint name beside the field that holds it: describe()
// reads the declaration for names and shapes, Model binds the tensors through it. Torch-free (T is the slot type).
#pragma once

#include <string>
#include <vector>

#include "models/qwen3_vl/config.h"
#include "models/weight_declaration.h"

namespace deepstack::qwen3_vl {

inline constexpr const char* kVisionPart = "vision tower";
inline constexpr const char* kMergersPart = "mergers";
inline constexpr const char* kLanguagePart = "language model";

template <class T>
struct VisionBlockWeights {
    T norm1_weight, norm1_bias, qkv_weight, qkv_bias, proj_weight, proj_bias;
    T norm2_weight, norm2_bias, fc1_weight, fc1_bias, fc2_weight, fc2_bias;
};
template <class T>
struct PatchMergerWeights {
    T norm_weight, norm_bias, fc1_weight, fc1_bias, fc2_weight, fc2_bias;
    bool norm_after_shuffle = false;  // the DeepStack mergers normalise the concatenated 2x2 window
};
template <class T>
struct VisionWeights {
    T patch_weight;  // as stored: [Dv, 3, T, P, P] (the model views it as one matmul)
    T patch_bias, pos_embed;
    std::vector<VisionBlockWeights<T>> blocks;
    PatchMergerWeights<T> merger;
    std::vector<PatchMergerWeights<T>> deepstack_mergers;
};
template <class T, class M = T>
struct Weights {
    VisionWeights<T> visual;
    models::LanguageModelWeights<T, M> language;  // M: the slot of its matrices (quantizable)
};

inline bool is_moe(const Config& c) { return c.model_type == "qwen3_vl_moe"; }

inline models::DecoderLayerShape decoder_layer_shape(const Config& c) {
    const auto& t = c.text;
    return {t.hidden_size, t.num_attention_heads, t.num_key_value_heads, t.head_dim, t.intermediate_size,
            t.attention_bias, /*qk_norm=*/true, /*dense_mlp=*/!is_moe(c)};
}

template <class T, class M>
void declare_weights(Weights<T, M>& w, const Config& c, const models::Declare<T>& declare, const models::Declare<M>& declare_matrix) {
    const auto& v = c.vision;
    const auto& t = c.text;
    const auto Dv = v.hidden_size, Iv = v.intermediate_size, Dt = t.hidden_size;
    const auto merged = Dv * v.spatial_merge_size * v.spatial_merge_size;

    const std::string vp = "model.visual.";
    auto& visual = w.visual;
    declare(&visual.patch_weight, vp + "patch_embed.proj.weight", {Dv, v.in_channels, v.temporal_patch_size, v.patch_size, v.patch_size}, kVisionPart, false);
    declare(&visual.patch_bias, vp + "patch_embed.proj.bias", {Dv}, kVisionPart, false);
    declare(&visual.pos_embed, vp + "pos_embed.weight", {v.num_position_embeddings, Dv}, kVisionPart, false);
    visual.blocks.resize(static_cast<std::size_t>(v.depth));
    for (std::int64_t i = 0; i < v.depth; ++i) {
        auto& b = visual.blocks[static_cast<std::size_t>(i)];
        const auto p = vp + "blocks." + std::to_string(i) + ".";
        declare(&b.norm1_weight, p + "norm1.weight", {Dv}, kVisionPart, false);
        declare(&b.norm1_bias, p + "norm1.bias", {Dv}, kVisionPart, false);
        declare(&b.qkv_weight, p + "attn.qkv.weight", {3 * Dv, Dv}, kVisionPart, false);
        declare(&b.qkv_bias, p + "attn.qkv.bias", {3 * Dv}, kVisionPart, false);
        declare(&b.proj_weight, p + "attn.proj.weight", {Dv, Dv}, kVisionPart, false);
        declare(&b.proj_bias, p + "attn.proj.bias", {Dv}, kVisionPart, false);
        declare(&b.norm2_weight, p + "norm2.weight", {Dv}, kVisionPart, false);
        declare(&b.norm2_bias, p + "norm2.bias", {Dv}, kVisionPart, false);
        declare(&b.fc1_weight, p + "mlp.linear_fc1.weight", {Iv, Dv}, kVisionPart, false);
        declare(&b.fc1_bias, p + "mlp.linear_fc1.bias", {Iv}, kVisionPart, false);
        declare(&b.fc2_weight, p + "mlp.linear_fc2.weight", {Dv, Iv}, kVisionPart, false);
        declare(&b.fc2_bias, p + "mlp.linear_fc2.bias", {Dv}, kVisionPart, false);
    }
    // The merger normalises each patch (width Dv) before the 2x2 shuffle; the DeepStack mergers the shuffled window.
    const auto declare_merger = [&](PatchMergerWeights<T>& m, const std::string& p, bool after_shuffle) {
        m.norm_after_shuffle = after_shuffle;
        const auto norm_width = after_shuffle ? merged : Dv;
        declare(&m.norm_weight, p + "norm.weight", {norm_width}, kMergersPart, false);
        declare(&m.norm_bias, p + "norm.bias", {norm_width}, kMergersPart, false);
        declare(&m.fc1_weight, p + "linear_fc1.weight", {merged, merged}, kMergersPart, false);
        declare(&m.fc1_bias, p + "linear_fc1.bias", {merged}, kMergersPart, false);
        declare(&m.fc2_weight, p + "linear_fc2.weight", {v.out_hidden_size, merged}, kMergersPart, false);
        declare(&m.fc2_bias, p + "linear_fc2.bias", {v.out_hidden_size}, kMergersPart, false);
    };
    declare_merger(visual.merger, vp + "merger.", false);
    visual.deepstack_mergers.resize(v.deepstack_visual_indexes.size());
    for (std::size_t k = 0; k < v.deepstack_visual_indexes.size(); ++k)
        declare_merger(visual.deepstack_mergers[k], vp + "deepstack_merger_list." + std::to_string(k) + ".", true);

    const std::string lp = "model.language_model.";
    models::declare_language_model(w.language, lp, t.vocab_size, t.num_hidden_layers, decoder_layer_shape(c), c.tie_word_embeddings,
                                   kLanguagePart, declare, declare_matrix);
    if (is_moe(c)) {
        // Recognised, not run: experts stored fused per layer, gate_up_proj [E, H, 2I], down_proj [E, I, H].
        for (std::int64_t l = 0; l < t.num_hidden_layers; ++l) {
            const auto p = lp + "layers." + std::to_string(l) + ".mlp.";
            declare(nullptr, p + "gate.weight", {c.num_experts, Dt}, kLanguagePart, false);
            declare(nullptr, p + "experts.gate_up_proj", {c.num_experts, Dt, 2 * c.moe_intermediate_size}, kLanguagePart, false);
            declare(nullptr, p + "experts.down_proj", {c.num_experts, c.moe_intermediate_size, Dt}, kLanguagePart, false);
        }
    }
}

}  // namespace deepstack::qwen3_vl

// The DeepStack LLaVA checkpoints' tensors, each declared once under its checkpoint name beside the field that
// holds it: describe() reads the declaration for names and shapes, Model binds the tensors through it (and
// training saves them under the same names). Torch-free (T is the slot type).
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "models/deepstack_llama/config.h"
#include "models/weight_declaration.h"

namespace deepstack::deepstack_llama {

inline constexpr const char* kVisionPart = "vision tower";
inline constexpr const char* kProjectorPart = "projector";
inline constexpr const char* kLanguagePart = "language model";

template <class T>
struct ClipLayerWeights {
    T norm1_weight, norm1_bias, q_weight, q_bias, k_weight, k_bias, v_weight, v_bias, out_weight, out_bias;
    T norm2_weight, norm2_bias, fc1_weight, fc1_bias, fc2_weight, fc2_bias;
};
template <class T>
struct ClipWeights {
    T class_embedding, patch_embedding, position_embedding, pre_norm_weight, pre_norm_bias;
    std::vector<ClipLayerWeights<T>> layers;  // only those up to the selected feature
};
template <class T>
struct ProjectorWeights {
    T fc1_weight, fc1_bias, fc2_weight, fc2_bias;  // fc2 empty for a linear projector
    T norm_weight;                                  // [Dt], with mm_projector_norm only
    T group_embedding;                              // [num_crops, Dt], with deepstack_group_embedding only
    T image_newline;                                // [Dt], DeepStack-L-HD only
};
template <class T, class M = T>
struct Weights {
    ClipWeights<T> clip;
    ProjectorWeights<T> projector;
    models::LanguageModelWeights<T, M> language;  // M: the slot of its matrices (quantizable)
};

inline models::DecoderLayerShape decoder_layer_shape(const Config& c) {
    const auto& t = c.text;
    return {t.hidden_size, t.num_attention_heads, t.num_key_value_heads, t.head_dim(), t.intermediate_size,
            t.attention_bias, /*qk_norm=*/false, /*dense_mlp=*/true};
}

template <class T, class M>
void declare_weights(Weights<T, M>& w, const Config& c, const models::Declare<T>& declare, const models::Declare<M>& declare_matrix) {
    const auto& v = c.vision;
    const auto& t = c.text;
    const auto D = v.hidden_size;

    const std::string vp = "model.vision_tower.vision_tower.vision_model.";
    auto& clip = w.clip;
    declare(&clip.class_embedding, vp + "embeddings.class_embedding", {D}, kVisionPart, false);
    declare(&clip.patch_embedding, vp + "embeddings.patch_embedding.weight", {D, v.num_channels, v.patch_size, v.patch_size}, kVisionPart, false);
    declare(&clip.position_embedding, vp + "embeddings.position_embedding.weight", {v.num_patches() + 1, D}, kVisionPart, false);
    declare(&clip.pre_norm_weight, vp + "pre_layrnorm.weight", {D}, kVisionPart, false);  // sic: CLIP's own spelling
    declare(&clip.pre_norm_bias, vp + "pre_layrnorm.bias", {D}, kVisionPart, false);
    // Released checkpoints hold every layer; only those that produce the selected feature are read (LLaVA takes
    // the input of the last one).
    // (A selected layer outside the tower is check_config's to report; nothing is declared for it.)
    clip.layers.resize(static_cast<std::size_t>(std::clamp<std::int64_t>(c.vision_layers_used(), 0, v.num_hidden_layers)));
    for (std::int64_t i = 0; i < v.num_hidden_layers; ++i) {
        const bool used = i < c.vision_layers_used();
        const auto slot = [&](T& field) { return used ? &field : nullptr; };
        ClipLayerWeights<T> unused;
        auto& l = used ? clip.layers[static_cast<std::size_t>(i)] : unused;
        const auto p = vp + "encoder.layers." + std::to_string(i) + ".";
        declare(slot(l.norm1_weight), p + "layer_norm1.weight", {D}, kVisionPart, false);
        declare(slot(l.norm1_bias), p + "layer_norm1.bias", {D}, kVisionPart, false);
        declare(slot(l.q_weight), p + "self_attn.q_proj.weight", {D, D}, kVisionPart, false);
        declare(slot(l.q_bias), p + "self_attn.q_proj.bias", {D}, kVisionPart, false);
        declare(slot(l.k_weight), p + "self_attn.k_proj.weight", {D, D}, kVisionPart, false);
        declare(slot(l.k_bias), p + "self_attn.k_proj.bias", {D}, kVisionPart, false);
        declare(slot(l.v_weight), p + "self_attn.v_proj.weight", {D, D}, kVisionPart, false);
        declare(slot(l.v_bias), p + "self_attn.v_proj.bias", {D}, kVisionPart, false);
        declare(slot(l.out_weight), p + "self_attn.out_proj.weight", {D, D}, kVisionPart, false);
        declare(slot(l.out_bias), p + "self_attn.out_proj.bias", {D}, kVisionPart, false);
        declare(slot(l.norm2_weight), p + "layer_norm2.weight", {D}, kVisionPart, false);
        declare(slot(l.norm2_bias), p + "layer_norm2.bias", {D}, kVisionPart, false);
        declare(slot(l.fc1_weight), p + "mlp.fc1.weight", {v.intermediate_size, D}, kVisionPart, false);
        declare(slot(l.fc1_bias), p + "mlp.fc1.bias", {v.intermediate_size}, kVisionPart, false);
        declare(slot(l.fc2_weight), p + "mlp.fc2.weight", {D, v.intermediate_size}, kVisionPart, false);
        declare(slot(l.fc2_bias), p + "mlp.fc2.bias", {D}, kVisionPart, false);
    }
    // LLaVA never applies the final LayerNorm (it takes hidden_states[-2]); checkpoints keep it anyway.
    declare(nullptr, vp + "post_layernorm.weight", {D}, kVisionPart, true);
    declare(nullptr, vp + "post_layernorm.bias", {D}, kVisionPart, true);

    auto& projector = w.projector;
    const auto Dt = t.hidden_size;
    if (c.mm_projector_type == "linear") {
        declare(&projector.fc1_weight, "model.mm_projector.weight", {Dt, c.mm_hidden_size}, kProjectorPart, false);
        declare(&projector.fc1_bias, "model.mm_projector.bias", {Dt}, kProjectorPart, false);
    } else {  // mlp2x_gelu: Linear, GELU, Linear (module indexes 0 and 2)
        declare(&projector.fc1_weight, "model.mm_projector.0.weight", {Dt, c.mm_hidden_size}, kProjectorPart, false);
        declare(&projector.fc1_bias, "model.mm_projector.0.bias", {Dt}, kProjectorPart, false);
        declare(&projector.fc2_weight, "model.mm_projector.2.weight", {Dt, Dt}, kProjectorPart, false);
        declare(&projector.fc2_bias, "model.mm_projector.2.bias", {Dt}, kProjectorPart, false);
    }
    if (c.mm_projector_norm) declare(&projector.norm_weight, "model.mm_projector_norm.weight", {Dt}, kProjectorPart, false);
    if (c.deepstack_group_embedding)
        declare(&projector.group_embedding, "model.deepstack_group_embedding", {c.num_crops, Dt}, kProjectorPart, false);
    if (c.is_anyres_deepstack) declare(&projector.image_newline, "model.image_newline", {Dt}, kProjectorPart, false);

    models::declare_language_model(w.language, "model.", t.vocab_size, t.num_hidden_layers, decoder_layer_shape(c),
                                   t.tie_word_embeddings, kLanguagePart, declare, declare_matrix);
}

}  // namespace deepstack::deepstack_llama

// One declaration per family of the tensors its checkpoint holds, read twice: describe() lists their names and
// shapes (no LibTorch), and the loader binds each tensor into the field the declaration names. A tensor's
// checkpoint name is written once, beside the field that holds it. Torch-free: the slot type is a parameter.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "deepstack/safetensors.h"

namespace deepstack::models {

// describe()'s slot: it needs names and shapes, no tensors.
struct Unbound {};

// What a declaration calls once per tensor. `slot` receives the tensor; nullptr declares a tensor the checkpoint
// may hold but nothing reads (CLIP's post-LayerNorm, layers after the selected feature). `optional`: the
// checkpoint may lack it (a tied lm_head).
template <class T>
using Declare = std::function<void(T* slot, const std::string& name, const Shape& shape, const char* part, bool optional)>;

// ---- the pre-norm decoder layer of LLaMA and Qwen3, under Hugging Face's names -------------------------------------
// M is the slot of the matrices the layer multiplies by: on LibTorch they may be stored quantized (nn::Matrix).
template <class T, class M = T>
struct DecoderLayerWeights {
    T input_layernorm;
    M q_proj, k_proj, v_proj, o_proj;
    T q_proj_bias, k_proj_bias, v_proj_bias, o_proj_bias;  // attention_bias only
    T q_norm, k_norm;                                      // Qwen3's RMSNorm over each head, before RoPE
    T post_attention_layernorm;
    M gate_proj, up_proj, down_proj;
};

struct DecoderLayerShape {
    std::int64_t hidden_size = 0;
    std::int64_t num_attention_heads = 0;
    std::int64_t num_key_value_heads = 0;
    std::int64_t head_dim = 0;
    std::int64_t intermediate_size = 0;
    bool attention_bias = false;  // q, k, v and o projections carry biases (LLaMA and Qwen3 alike)
    bool qk_norm = false;         // Qwen3
    bool dense_mlp = true;        // false: a mixture of experts, declared by the family
};

// `prefix` ends with the layer's dot: "model.layers.3.".
template <class T, class M>
void declare_decoder_layer(DecoderLayerWeights<T, M>& w, const std::string& prefix, const DecoderLayerShape& s,
                           const char* part, const Declare<T>& declare, const Declare<M>& declare_matrix) {
    const auto q_width = s.num_attention_heads * s.head_dim, kv_width = s.num_key_value_heads * s.head_dim;
    const auto attn = prefix + "self_attn.";
    declare(&w.input_layernorm, prefix + "input_layernorm.weight", {s.hidden_size}, part, false);
    declare_matrix(&w.q_proj, attn + "q_proj.weight", {q_width, s.hidden_size}, part, false);
    declare_matrix(&w.k_proj, attn + "k_proj.weight", {kv_width, s.hidden_size}, part, false);
    declare_matrix(&w.v_proj, attn + "v_proj.weight", {kv_width, s.hidden_size}, part, false);
    declare_matrix(&w.o_proj, attn + "o_proj.weight", {s.hidden_size, q_width}, part, false);
    if (s.attention_bias) {
        declare(&w.q_proj_bias, attn + "q_proj.bias", {q_width}, part, false);
        declare(&w.k_proj_bias, attn + "k_proj.bias", {kv_width}, part, false);
        declare(&w.v_proj_bias, attn + "v_proj.bias", {kv_width}, part, false);
        declare(&w.o_proj_bias, attn + "o_proj.bias", {s.hidden_size}, part, false);
    }
    if (s.qk_norm) {
        declare(&w.q_norm, attn + "q_norm.weight", {s.head_dim}, part, false);
        declare(&w.k_norm, attn + "k_norm.weight", {s.head_dim}, part, false);
    }
    declare(&w.post_attention_layernorm, prefix + "post_attention_layernorm.weight", {s.hidden_size}, part, false);
    if (s.dense_mlp) {
        declare_matrix(&w.gate_proj, prefix + "mlp.gate_proj.weight", {s.intermediate_size, s.hidden_size}, part, false);
        declare_matrix(&w.up_proj, prefix + "mlp.up_proj.weight", {s.intermediate_size, s.hidden_size}, part, false);
        declare_matrix(&w.down_proj, prefix + "mlp.down_proj.weight", {s.hidden_size, s.intermediate_size}, part, false);
    }
}

// ---- the language model around those layers: embedding, layers, final norm, head ----------------------------------
template <class T, class M = T>
struct LanguageModelWeights {
    M embed_tokens;  // a matrix too: quantized with the rest, and the tied lm_head
    std::vector<DecoderLayerWeights<T, M>> layers;
    T norm;
    M lm_head;  // a tied model stores none: the loader reuses embed_tokens
};

// `prefix`: "model." (LLaMA) or "model.language_model." (Qwen3-VL); the head is "lm_head.weight" in both.
template <class T, class M>
void declare_language_model(LanguageModelWeights<T, M>& w, const std::string& prefix, std::int64_t vocab_size,
                            std::int64_t num_hidden_layers, const DecoderLayerShape& layer, bool tie_word_embeddings,
                            const char* part, const Declare<T>& declare, const Declare<M>& declare_matrix) {
    declare_matrix(&w.embed_tokens, prefix + "embed_tokens.weight", {vocab_size, layer.hidden_size}, part, false);
    w.layers.resize(static_cast<std::size_t>(num_hidden_layers));
    for (std::int64_t l = 0; l < num_hidden_layers; ++l)
        declare_decoder_layer(w.layers[static_cast<std::size_t>(l)], prefix + "layers." + std::to_string(l) + ".", layer, part, declare,
                              declare_matrix);
    declare(&w.norm, prefix + "norm.weight", {layer.hidden_size}, part, false);
    // Optional when tied; a stored copy is read and preferred then (some re-saves keep one).
    declare_matrix(&w.lm_head, "lm_head.weight", {vocab_size, layer.hidden_size}, part, tie_word_embeddings);
}

}  // namespace deepstack::models

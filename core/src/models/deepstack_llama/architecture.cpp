#include "models/deepstack_llama/architecture.h"

#include <algorithm>

namespace deepstack::deepstack_llama {

namespace {
constexpr const char* kVision = "vision tower";
constexpr const char* kProjector = "projector";
constexpr const char* kLanguage = "language model";
constexpr std::int64_t kEstimatePrefillChunk = 512;
constexpr std::int64_t kBf16 = 2;
constexpr std::int64_t kF32 = 4;

std::string variant_name(const Config& c) {
    if (c.vit_stack_start_layer()) return "DeepStack-V (LLaVA)";
    if (c.is_anyres_deepstack) return "DeepStack-L-HD (LLaVA)";
    return "DeepStack-L (LLaVA)";
}

// The 2-D neighbour sampling of a 2x2 arrangement: group k takes member (k / 2, k % 2) of every 2x2 cell.
std::string group_pattern(std::int64_t k, std::int64_t groups) {
    if (groups == 4)
        return "member (" + std::to_string(k / 2) + ", " + std::to_string(k % 2) + ") of every 2x2 neighbourhood";
    return "sample " + std::to_string(k) + " of " + std::to_string(groups);
}
}  // namespace

models::ArchitectureDescription describe(const Config& c) {
    models::ArchitectureDescription a;
    a.family = "deepstack_llama";
    a.display_name = variant_name(c);
    a.runnable = true;
    a.parts = {kVision, kProjector, kLanguage};
    a.problems = check_config(c);
    a.vocab_size = c.text.vocab_size;
    const auto& t = c.text;
    const auto& v = c.vision;

    a.facts = {
        {"language model", "LLaMA, " + std::to_string(t.num_hidden_layers) + " layers, hidden " +
                               std::to_string(t.hidden_size) + ", " + std::to_string(t.num_attention_heads) + " heads / " +
                               std::to_string(t.num_key_value_heads) + " KV heads, MLP " +
                               std::to_string(t.intermediate_size)},
        {"vision tower", "CLIP ViT, " + std::to_string(v.num_hidden_layers) + " layers, hidden " +
                             std::to_string(v.hidden_size) + ", " + std::to_string(v.image_size) + " px, patch " +
                             std::to_string(v.patch_size) + " (" + c.vision_config_source + "); feature of layer " +
                             std::to_string(c.vision_layers_used() - 1) + ", CLS dropped"},
        {"projector", c.mm_projector_type + (c.mm_projector_norm ? ", then RMSNorm (mm_projector_norm)" : "") +
                          (c.deepstack_group_embedding ? "; a learned embedding per stacked group (deepstack_group_embedding)" : "")},
        {"crops", std::to_string(c.num_crops) + (c.num_crops_defaulted ? " (default)" : "") + " high-resolution crops, " +
                      c.deepstack_sampling + " sampling"},
        {"vocabulary", std::to_string(t.vocab_size)},
        {"context", std::to_string(c.tokenizer_model_max_length) + " tokens"},
    };
    if (c.vicuna_system_prompt != kVicunaSystemPrompt)
        a.facts.emplace_back("system prompt", c.vicuna_system_prompt.empty() ? "none (vicuna_system_prompt)" : c.vicuna_system_prompt);
    if (c.num_crops_defaulted) a.notes.push_back("num_crops is absent from config.json; the authors' value 4 is used");
    a.notes.push_back("vision tower config: " + c.vision_config_source);

    // ---- tensors ------------------------------------------------------------------------------------------------
    auto add = [&](std::string name, Shape shape, const char* part, bool optional = false) {
        a.tensors.push_back({std::move(name), std::move(shape), part, optional});
    };
    const auto D = v.hidden_size;
    const std::string vp = "model.vision_tower.vision_tower.vision_model.";
    add(vp + "embeddings.class_embedding", {D}, kVision);
    add(vp + "embeddings.patch_embedding.weight", {D, v.num_channels, v.patch_size, v.patch_size}, kVision);
    add(vp + "embeddings.position_embedding.weight", {v.num_patches() + 1, D}, kVision);
    add(vp + "pre_layrnorm.weight", {D}, kVision);  // sic: CLIP's own spelling
    add(vp + "pre_layrnorm.bias", {D}, kVision);
    for (std::int64_t i = 0; i < v.num_hidden_layers; ++i) {
        const auto p = vp + "encoder.layers." + std::to_string(i) + ".";
        for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
            add(p + "self_attn." + proj + ".weight", {D, D}, kVision);
            add(p + "self_attn." + proj + ".bias", {D}, kVision);
        }
        add(p + "layer_norm1.weight", {D}, kVision);
        add(p + "layer_norm1.bias", {D}, kVision);
        add(p + "mlp.fc1.weight", {v.intermediate_size, D}, kVision);
        add(p + "mlp.fc1.bias", {v.intermediate_size}, kVision);
        add(p + "mlp.fc2.weight", {D, v.intermediate_size}, kVision);
        add(p + "mlp.fc2.bias", {D}, kVision);
        add(p + "layer_norm2.weight", {D}, kVision);
        add(p + "layer_norm2.bias", {D}, kVision);
    }
    // LLaVA never applies the final LayerNorm (it takes hidden_states[-2]); checkpoints keep it anyway.
    add(vp + "post_layernorm.weight", {D}, kVision, true);
    add(vp + "post_layernorm.bias", {D}, kVision, true);

    if (c.mm_projector_type == "linear") {
        add("model.mm_projector.weight", {t.hidden_size, c.mm_hidden_size}, kProjector);
        add("model.mm_projector.bias", {t.hidden_size}, kProjector);
    } else {
        add("model.mm_projector.0.weight", {t.hidden_size, c.mm_hidden_size}, kProjector);
        add("model.mm_projector.0.bias", {t.hidden_size}, kProjector);
        add("model.mm_projector.2.weight", {t.hidden_size, t.hidden_size}, kProjector);
        add("model.mm_projector.2.bias", {t.hidden_size}, kProjector);
    }
    if (c.mm_projector_norm) add("model.mm_projector_norm.weight", {t.hidden_size}, kProjector);
    if (c.deepstack_group_embedding) add("model.deepstack_group_embedding", {c.num_crops, t.hidden_size}, kProjector);
    if (c.is_anyres_deepstack) add("model.image_newline", {t.hidden_size}, kProjector);

    const auto kv_width = t.num_key_value_heads * t.head_dim();
    add("model.embed_tokens.weight", {t.vocab_size, t.hidden_size}, kLanguage);
    for (std::int64_t l = 0; l < t.num_hidden_layers; ++l) {
        const auto p = "model.layers." + std::to_string(l) + ".";
        add(p + "input_layernorm.weight", {t.hidden_size}, kLanguage);
        add(p + "self_attn.q_proj.weight", {t.hidden_size, t.hidden_size}, kLanguage);
        add(p + "self_attn.k_proj.weight", {kv_width, t.hidden_size}, kLanguage);
        add(p + "self_attn.v_proj.weight", {kv_width, t.hidden_size}, kLanguage);
        add(p + "self_attn.o_proj.weight", {t.hidden_size, t.hidden_size}, kLanguage);
        if (t.attention_bias) {
            add(p + "self_attn.q_proj.bias", {t.hidden_size}, kLanguage);
            add(p + "self_attn.k_proj.bias", {kv_width}, kLanguage);
            add(p + "self_attn.v_proj.bias", {kv_width}, kLanguage);
            add(p + "self_attn.o_proj.bias", {t.hidden_size}, kLanguage);
        }
        add(p + "post_attention_layernorm.weight", {t.hidden_size}, kLanguage);
        add(p + "mlp.gate_proj.weight", {t.intermediate_size, t.hidden_size}, kLanguage);
        add(p + "mlp.up_proj.weight", {t.intermediate_size, t.hidden_size}, kLanguage);
        add(p + "mlp.down_proj.weight", {t.hidden_size, t.intermediate_size}, kLanguage);
    }
    add("model.norm.weight", {t.hidden_size}, kLanguage);
    add("lm_head.weight", {t.vocab_size, t.hidden_size}, kLanguage, t.tie_word_embeddings);

    // ---- the stack plan -----------------------------------------------------------------------------------------
    if (c.stacks_disabled()) {
        a.notes.push_back("deepstack_args_for_ablation has \"nostack\": the global view alone, no stacked groups (the "
                          "twin without stacks)");
    } else if (const auto s = c.vit_stack_start_layer()) {
        for (std::int64_t k = 0; k < c.num_crops; ++k)
            a.deepstack_plan.push_back({"high-res group " + std::to_string(k),
                                        "2x2 high-resolution crops, " + group_pattern(k, c.num_crops), kVision,
                                        static_cast<int>(*s + k),
                                        "added to the global view's patch tokens before vision layer " +
                                            std::to_string(*s + k)});
    } else {
        for (std::int64_t k = 0; k < c.num_crops; ++k) {
            const auto layer = c.deepstack_start_id + k * c.deepstack_interval;
            if (layer >= t.num_hidden_layers) {
                a.notes.push_back("high-res group " + std::to_string(k) + " would enter layer " + std::to_string(layer) + " of a " +
                                  std::to_string(t.num_hidden_layers) + "-layer language model: it is never added, as in the authors' code");
                continue;
            }
            a.deepstack_plan.push_back(
                {"high-res group " + std::to_string(k),
                 std::string(c.is_anyres_deepstack ? "2x re-encoded views, " : "high-resolution crops, ") +
                     group_pattern(k, c.num_crops) + (c.is_anyres_deepstack ? "" : " (zeros when the grid has fewer cells)"),
                 kLanguage, static_cast<int>(layer),
                 "added to the image positions before layer " + std::to_string(layer)});
        }
    }

    // ---- sizes ---------------------------------------------------------------------------------------------------
    a.kv_cache_bytes_per_token = 2 * t.num_hidden_layers * kv_width * kBf16;
    a.context_tokens = c.tokenizer_model_max_length;
    const auto crops = c.is_anyres_deepstack ? 5 * (1 + c.num_crops) : 1 + c.num_crops;
    const auto tokens = v.num_patches() + 1;
    const auto vision_bytes = crops * tokens * (6 * D + v.intermediate_size) * kBf16 +
                              crops * v.num_attention_heads * tokens * tokens * kF32;
    const auto prefill_bytes = kEstimatePrefillChunk * (6 * t.hidden_size + 3 * t.intermediate_size) * kBf16 +
                               t.num_attention_heads * kEstimatePrefillChunk * a.context_tokens * kF32 +
                               c.num_crops * v.num_patches() * t.hidden_size * kBf16 + t.vocab_size * kF32;
    a.workspace_bytes = std::max(vision_bytes, prefill_bytes);
    a.notes.push_back("memory estimate assumes the full " + std::to_string(a.context_tokens) + "-token context, " +
                      std::to_string(crops) + " crops of one image and prefill chunks of " +
                      std::to_string(kEstimatePrefillChunk) + " tokens");
    return a;
}

}  // namespace deepstack::deepstack_llama

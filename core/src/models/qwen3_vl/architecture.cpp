#include "models/qwen3_vl/architecture.h"

#include <algorithm>
#include <cstdio>

#include "models/qwen3_vl/weights.h"

namespace deepstack::qwen3_vl {

namespace {

// 5000000 as "5000000", and a value no integer holds (a damaged config's 5.9e51) as it is, never cast past range.
std::string number_text(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.10g", value);
    return text;
}

// What the memory estimate assumes: a 1-megapixel image (1024 merged tokens) and prefill in chunks of 512.
constexpr std::int64_t kEstimateImageTokens = 1024;
constexpr std::int64_t kEstimatePrefillChunk = 512;
constexpr std::int64_t kEstimateContext = 8192;
constexpr std::int64_t kBf16 = 2;
constexpr std::int64_t kF32 = 4;
}  // namespace

models::ArchitectureDescription describe(const Config& c) {
    models::ArchitectureDescription a;
    a.family = c.model_type;
    const bool moe = is_moe(c);
    a.display_name = moe ? "Qwen3-VL MoE" : "Qwen3-VL";
    a.runnable = !moe;
    if (moe) a.not_runnable_reason = "the mixture-of-experts Qwen3-VL is recognised, but this version only inspects it";
    a.parts = {kVisionPart, kMergersPart, kLanguagePart};
    a.problems = check_config(c);
    a.vocab_size = c.text.vocab_size;
    a.special_tokens = {{"<|image_pad|>", c.image_token_id},
                        {"<|video_pad|>", c.video_token_id},
                        {"<|vision_start|>", c.vision_start_token_id},
                        {"<|vision_end|>", c.vision_end_token_id}};

    const auto& v = c.vision;
    const auto& t = c.text;
    a.facts = {
        {"language model", std::to_string(t.num_hidden_layers) + " layers, hidden " + std::to_string(t.hidden_size) +
                               ", " + std::to_string(t.num_attention_heads) + " heads / " +
                               std::to_string(t.num_key_value_heads) + " KV heads of " + std::to_string(t.head_dim) +
                               (moe ? ", " + std::to_string(c.num_experts) + " experts (top " +
                                          std::to_string(c.num_experts_per_tok) + ")"
                                    : ", MLP " + std::to_string(t.intermediate_size))},
        {"vision tower", std::to_string(v.depth) + " blocks, hidden " + std::to_string(v.hidden_size) + ", " +
                             std::to_string(v.num_heads) + " heads, patch " + std::to_string(v.patch_size) + ", merge " +
                             std::to_string(v.spatial_merge_size) + "x" + std::to_string(v.spatial_merge_size)},
        {"vocabulary", std::to_string(t.vocab_size) + (c.tie_word_embeddings ? " (tied lm_head)" : " (separate lm_head)")},
        {"rope", "interleaved MRoPE, theta " + number_text(t.rope_theta) + ", sections [" +
                     std::to_string(t.mrope_section.size() > 0 ? t.mrope_section[0] : 0) + ", " +
                     std::to_string(t.mrope_section.size() > 1 ? t.mrope_section[1] : 0) + ", " +
                     std::to_string(t.mrope_section.size() > 2 ? t.mrope_section[2] : 0) + "]"},
        {"context", std::to_string(t.max_position_embeddings) + " tokens"},
    };

    // ---- tensors, named as in the checkpoint (weights.h declares them) ----------------------------------------
    Weights<models::Unbound> unbound;
    const models::Declare<models::Unbound> list = [&](models::Unbound*, const std::string& name, const Shape& shape, const char* part, bool optional) {
        a.tensors.push_back({name, shape, part, optional});
    };
    declare_weights(unbound, c, list, list);

    // ---- the DeepStack plan: vision block i -> deepstack merger k -> added after LLM layer k ------------------
    for (std::size_t k = 0; k < v.deepstack_visual_indexes.size(); ++k) {
        models::StackStep step;
        // Numbered from 1 as everywhere in the app and the CLI, beside the checkpoint's name for it.
        step.group = "group " + std::to_string(k + 1) + " (deepstack_merger_list." + std::to_string(k) + ")";
        step.source = "vision block " + std::to_string(v.deepstack_visual_indexes[k]) + " (2x2-merged image tokens)";
        step.target = kLanguagePart;
        step.target_layer = static_cast<int>(k);
        step.placement = "added to the image positions after layer " + std::to_string(k);
        a.deepstack_plan.push_back(step);
    }

    // ---- sizes ---------------------------------------------------------------------------------------------------
    a.kv_cache_bytes_per_token = 2 * t.num_hidden_layers * t.num_key_value_heads * t.head_dim * kBf16;
    a.context_tokens = std::min<std::int64_t>(kEstimateContext, t.max_position_embeddings);
    a.longest_context = t.max_position_embeddings;
    const auto Dv = v.hidden_size, Iv = v.intermediate_size, Dt = t.hidden_size;
    const auto patches = kEstimateImageTokens * v.spatial_merge_size * v.spatial_merge_size;
    const auto vision_bytes = patches * (6 * Dv + Iv) * kBf16 +
                              v.num_heads * std::min<std::int64_t>(1024, patches) * patches * kF32;  // one query block
    const auto mlp_width = moe ? c.num_experts_per_tok * c.moe_intermediate_size : t.intermediate_size;
    const auto prefill_bytes = kEstimatePrefillChunk * (6 * Dt + 3 * mlp_width) * kBf16 +
                               t.num_attention_heads * kEstimatePrefillChunk * a.context_tokens * kF32 +
                               t.vocab_size * kF32;
    a.workspace_bytes = std::max(vision_bytes, prefill_bytes);
    a.notes.push_back("memory estimate assumes a " + std::to_string(a.context_tokens) + "-token context, a " +
                      std::to_string(kEstimateImageTokens) + "-token image and prefill chunks of " +
                      std::to_string(kEstimatePrefillChunk) + " tokens");
    return a;
}

}  // namespace deepstack::qwen3_vl

#include "models/deepstack_llama/architecture.h"

#include <algorithm>

#include "models/deepstack_llama/weights.h"

namespace deepstack::deepstack_llama {

namespace {
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
    a.parts = {kVisionPart, kProjectorPart, kLanguagePart};
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

    // ---- tensors, named as in the checkpoint (weights.h declares them) ----------------------------------------
    Weights<models::Unbound> unbound;
    const models::Declare<models::Unbound> list = [&](models::Unbound*, const std::string& name, const Shape& shape, const char* part, bool optional) {
        a.tensors.push_back({name, shape, part, optional});
    };
    declare_weights(unbound, c, list, list);
    const auto D = v.hidden_size;
    const auto kv_width = t.num_key_value_heads * t.head_dim();

    // ---- the stack plan -----------------------------------------------------------------------------------------
    if (c.stacks_disabled()) {
        a.notes.push_back("deepstack_args_for_ablation has \"nostack\": the global view alone, no stacked groups (the "
                          "twin without stacks)");
    } else if (const auto s = c.vit_stack_start_layer()) {
        for (std::int64_t k = 0; k < c.num_crops; ++k)
            a.deepstack_plan.push_back({"group " + std::to_string(k + 1),
                                        "2x2 high-resolution crops, " + group_pattern(k, c.num_crops), kVisionPart,
                                        static_cast<int>(*s + k),
                                        "added to the global view's patch tokens before vision layer " +
                                            std::to_string(*s + k)});
    } else {
        for (std::int64_t k = 0; k < c.num_crops; ++k) {
            const auto layer = c.deepstack_start_id + k * c.deepstack_interval;
            if (layer >= t.num_hidden_layers) {
                a.notes.push_back("group " + std::to_string(k + 1) + " would enter layer " + std::to_string(layer) + " of a " +
                                  std::to_string(t.num_hidden_layers) + "-layer language model: it is never added, as in the authors' code");
                continue;
            }
            a.deepstack_plan.push_back(
                {"group " + std::to_string(k + 1),
                 std::string(c.is_anyres_deepstack ? "2x re-encoded views, " : "high-resolution crops, ") +
                     group_pattern(k, c.num_crops) + (c.is_anyres_deepstack ? "" : " (zeros when the grid has fewer cells)"),
                 kLanguagePart, static_cast<int>(layer),
                 "added to the image positions before layer " + std::to_string(layer)});
        }
    }

    // ---- sizes ---------------------------------------------------------------------------------------------------
    a.kv_cache_bytes_per_token = 2 * t.num_hidden_layers * kv_width * kBf16;
    a.context_tokens = c.tokenizer_model_max_length;
    a.longest_context = c.tokenizer_model_max_length;  // the authors train and cut prompts at this window
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

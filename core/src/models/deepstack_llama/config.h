// The DeepStack LLaVA family's config.json (model_type "deepstack_llama": DeepStack-L, -L-HD and -V), typed with
// the authors' field names (released ones: tests/data/configs/deepstack-l-*.config.json). The CLIP tower's own
// config is not in the released files: it comes from an optional "vision_config" object, or from the tower named by
// mm_vision_tower when that is a known CLIP.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/json_fields.h"

namespace deepstack::deepstack_llama {

struct ClipVisionConfig {
    std::int64_t hidden_size = 1024;
    std::int64_t intermediate_size = 4096;
    std::int64_t num_hidden_layers = 24;
    std::int64_t num_attention_heads = 16;
    std::int64_t num_channels = 3;
    std::int64_t image_size = 336;
    std::int64_t patch_size = 14;
    double layer_norm_eps = 1e-5;
    std::string hidden_act = "quick_gelu";

    std::int64_t grid() const { return image_size / std::max<std::int64_t>(1, patch_size); }  // 24 for ViT-L/14-336 (0 patches: check_config says so)
    std::int64_t num_patches() const { return grid() * grid(); }        // 576
};

struct LlamaConfig {
    std::int64_t vocab_size = 32000;
    std::int64_t hidden_size = 0;
    std::int64_t intermediate_size = 0;
    std::int64_t num_hidden_layers = 0;
    std::int64_t num_attention_heads = 0;
    std::int64_t num_key_value_heads = 0;
    std::int64_t max_position_embeddings = 4096;
    double rms_norm_eps = 1e-5;
    double rope_theta = 10000.0;
    bool attention_bias = false;
    bool tie_word_embeddings = false;
    std::string hidden_act = "silu";
    std::int64_t bos_token_id = 1;
    std::int64_t eos_token_id = 2;
    std::int64_t pad_token_id = 0;

    std::int64_t head_dim() const { return hidden_size / std::max<std::int64_t>(1, num_attention_heads); }  // 0 heads: check_config
};

// LLaVA's conv_vicuna_v1 system message.
inline constexpr const char* kVicunaSystemPrompt =
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, "
    "and polite answers to the user's questions.";

struct Config {
    LlamaConfig text;
    ClipVisionConfig vision;
    std::string vision_config_source;  // where `vision` came from, for the log

    std::int64_t mm_hidden_size = 1024;
    std::string mm_projector_type = "mlp2x_gelu";
    std::int64_t mm_vision_select_layer = -2;
    std::string mm_vision_select_feature = "patch";
    std::string mm_vision_tower;
    std::string image_aspect_ratio;
    std::int64_t tokenizer_model_max_length = 4096;

    // DeepStack keys, with the defaults the authors' code applies when a key is absent.
    std::int64_t num_crops = 4;
    bool num_crops_defaulted = false;
    bool is_anyres_deepstack = false;  // DeepStack-L-HD: LLaVA-NeXT style input with image_newline
    std::string deepstack_sampling = "2d";
    std::int64_t deepstack_start_id = 1;
    std::int64_t deepstack_interval = 1;
    std::vector<std::string> ablation_flags;  // deepstack_args_for_ablation split on '+'
    bool twoviews_unshare = false;

    // The conversation's opening line, the vicuna_v1 system message: our own optional field vicuna_system_prompt
    // (absent in the authors' checkpoints: their line). The demo model is trained with it empty: its 512-piece
    // tokenizer spells the authors' line in 113 tokens, on every training page.
    std::string vicuna_system_prompt = kVicunaSystemPrompt;

    // Our own optional fields (absent, and off, in the authors' checkpoints), for the demo model: the projector's
    // tokens arrive 200x larger than the text embeddings, and all four groups come through the one projector
    // along the same directions.
    // An RMSNorm with a learned gain after the projector (model.mm_projector_norm.weight [Dt]): image tokens and
    // stacked groups at the text embeddings' scale.
    bool mm_projector_norm = false;
    // A learned vector per stacked group added to it (model.deepstack_group_embedding [num_crops, Dt]): the
    // decoder can tell which group (which neighbour in the high-resolution grid) a stacked feature came from.
    bool deepstack_group_embedding = false;

    bool has_flag(const std::string& flag) const;
    // Our own flag "nostack": the unstacked twin of a DeepStack-L model (same tower, projector and decoder; the
    // crops are neither encoded nor added), the baseline of the paper's comparison.
    bool stacks_disabled() const { return has_flag("nostack"); }
    // DeepStack-V: the stacks go into the vision tower from this layer on instead of into the LLM.
    std::optional<std::int64_t> vit_stack_start_layer() const;
    // How many CLIP layers run to produce the selected feature (mm_vision_select_layer -2 -> 23 of 24).
    std::int64_t vision_layers_used() const;
};

Config parse_config(const config::Fields& root);
std::vector<std::string> check_config(const Config& config);

}  // namespace deepstack::deepstack_llama

// Qwen3-VL's config.json, typed, with the checkpoint's own field names (the released files are in
// tests/data/configs/).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "config/json_fields.h"

namespace deepstack::qwen3_vl {

struct VisionConfig {
    std::int64_t depth = 0;
    std::int64_t hidden_size = 0;
    std::int64_t intermediate_size = 0;
    std::int64_t num_heads = 0;
    std::int64_t in_channels = 3;
    std::int64_t patch_size = 16;
    std::int64_t temporal_patch_size = 2;
    std::int64_t spatial_merge_size = 2;
    std::int64_t out_hidden_size = 0;
    std::int64_t num_position_embeddings = 2304;
    std::vector<std::int64_t> deepstack_visual_indexes;
    std::string hidden_act = "gelu_pytorch_tanh";
    double rope_theta = 10000.0;  // of the 2-D rotary embedding

    std::int64_t head_dim() const { return hidden_size / std::max<std::int64_t>(1, num_heads); }  // 0 heads: check_config
};

struct TextConfig {
    std::int64_t vocab_size = 0;
    std::int64_t hidden_size = 0;
    std::int64_t intermediate_size = 0;
    std::int64_t num_hidden_layers = 0;
    std::int64_t num_attention_heads = 0;
    std::int64_t num_key_value_heads = 0;
    std::int64_t head_dim = 0;
    std::int64_t max_position_embeddings = 0;
    double rms_norm_eps = 1e-6;
    double rope_theta = 5'000'000.0;
    std::vector<std::int64_t> mrope_section;  // frequencies per axis (T, H, W), summing to head_dim / 2
    bool mrope_interleaved = true;
    bool attention_bias = false;
    std::string hidden_act = "silu";
    std::int64_t bos_token_id = -1;
    std::int64_t eos_token_id = -1;
};

struct Config {
    std::string model_type;  // "qwen3_vl" or "qwen3_vl_moe"
    TextConfig text;
    VisionConfig vision;
    bool tie_word_embeddings = false;
    std::int64_t image_token_id = 151655;
    std::int64_t video_token_id = 151656;
    std::int64_t vision_start_token_id = 151652;
    std::int64_t vision_end_token_id = 151653;
    // Mixture-of-experts text MLP (qwen3_vl_moe only); zero experts means dense.
    std::int64_t num_experts = 0;
    std::int64_t num_experts_per_tok = 0;
    std::int64_t moe_intermediate_size = 0;
};

Config parse_config(const config::Fields& root);

// Contradictions inside the config (sizes that cannot work together), as sentences.
std::vector<std::string> check_config(const Config& config);

}  // namespace deepstack::qwen3_vl

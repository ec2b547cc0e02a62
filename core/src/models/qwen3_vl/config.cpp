#include "models/qwen3_vl/config.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace deepstack::qwen3_vl {

Config parse_config(const config::Fields& root) {
    Config c;
    c.model_type = root.string("model_type");

    const auto text = root.object("text_config");
    c.text.vocab_size = text.count("vocab_size", 1 << 24);
    c.text.hidden_size = text.count("hidden_size", 1 << 16);
    c.text.intermediate_size = text.count("intermediate_size", 1 << 20);
    c.text.num_hidden_layers = text.count("num_hidden_layers", 1024);
    c.text.num_attention_heads = text.count("num_attention_heads", 1024);
    c.text.num_key_value_heads = text.count("num_key_value_heads", c.text.num_attention_heads, 1024);
    c.text.head_dim = text.count("head_dim", c.text.hidden_size / std::max<std::int64_t>(1, c.text.num_attention_heads), 4096);
    c.text.max_position_embeddings = text.count("max_position_embeddings", 262144, 1 << 24);
    c.text.rms_norm_eps = text.number("rms_norm_eps", 1e-6);
    c.text.attention_bias = text.boolean("attention_bias", false);
    c.text.hidden_act = text.string("hidden_act", "silu");
    c.text.bos_token_id = text.integer("bos_token_id", -1);
    c.text.eos_token_id = text.first_integer("eos_token_id", -1);

    // transformers 4.57 writes rope_theta + rope_scaling; 5.x re-saves fold both into rope_parameters.
    const auto rope = text.has("rope_parameters") ? text.optional_object("rope_parameters") : text.optional_object("rope_scaling");
    c.text.rope_theta = text.number("rope_theta", rope ? rope->number("rope_theta", 5'000'000.0) : 5'000'000.0);
    if (!rope) throw text.error("rope_scaling", "missing (Qwen3-VL needs mrope_section)");
    c.text.mrope_section = rope->integers("mrope_section");
    c.text.mrope_interleaved = rope->boolean("mrope_interleaved", true);

    c.num_experts = text.count("num_experts", 0, 4096);
    c.num_experts_per_tok = text.count("num_experts_per_tok", 0, 4096);
    c.moe_intermediate_size = text.count("moe_intermediate_size", 0, 1 << 20);

    const auto vision = root.object("vision_config");
    c.vision.depth = vision.count("depth", 1024);
    c.vision.hidden_size = vision.count("hidden_size", 1 << 16);
    c.vision.intermediate_size = vision.count("intermediate_size", 1 << 20);
    c.vision.num_heads = vision.count("num_heads", 1024);
    c.vision.in_channels = vision.count("in_channels", 3, 16);
    c.vision.patch_size = vision.count("patch_size", 16, 1024);
    c.vision.temporal_patch_size = vision.count("temporal_patch_size", 2, 16);
    c.vision.spatial_merge_size = vision.count("spatial_merge_size", 2, 16);
    c.vision.out_hidden_size = vision.count("out_hidden_size", 1 << 16);
    c.vision.num_position_embeddings = vision.count("num_position_embeddings", 2304, 1 << 20);
    c.vision.deepstack_visual_indexes = vision.integers("deepstack_visual_indexes", {});
    c.vision.hidden_act = vision.string("hidden_act", "gelu_pytorch_tanh");
    if (const auto vision_rope = vision.optional_object("rope_parameters"))
        c.vision.rope_theta = vision_rope->number("rope_theta", 10000.0);
    c.vision.rope_theta = vision.number("rope_theta", c.vision.rope_theta);

    // The 2B/4B configs carry tie_word_embeddings at the top and in text_config; the top level decides.
    c.tie_word_embeddings = root.boolean("tie_word_embeddings", text.boolean("tie_word_embeddings", false));
    c.image_token_id = root.integer("image_token_id", 151655);
    c.video_token_id = root.integer("video_token_id", 151656);
    c.vision_start_token_id = root.integer("vision_start_token_id", 151652);
    c.vision_end_token_id = root.integer("vision_end_token_id", 151653);
    return c;
}

std::vector<std::string> check_config(const Config& c) {
    config::Problems problems;
    auto require = [&](bool holds, const std::string& sentence) { problems.require(holds, sentence); };
    const auto& t = c.text;
    const auto& v = c.vision;
    require(t.num_attention_heads > 0 && t.num_key_value_heads > 0 && t.num_attention_heads % t.num_key_value_heads == 0,
            "text_config: num_attention_heads " + std::to_string(t.num_attention_heads) +
                " is not a multiple of num_key_value_heads " + std::to_string(t.num_key_value_heads));
    // Entries are bounded before they are summed, so that no config can overflow the sum.
    const auto& section = t.mrope_section;
    const bool entries_fit = std::all_of(section.begin(), section.end(), [](std::int64_t n) { return n >= 0 && n <= 4096; });
    const auto mrope_sum = entries_fit ? std::accumulate(section.begin(), section.end(), std::int64_t{0}) : -1;
    if (!entries_fit) {
        const auto bad = std::find_if(section.begin(), section.end(), [](std::int64_t n) { return n < 0 || n > 4096; });
        require(false, "text_config: mrope_section entries must lie in 0..4096, found " + std::to_string(*bad));
    } else {
        require(section.size() == 3 && mrope_sum * 2 == t.head_dim,
                "text_config: mrope_section must have 3 entries summing to head_dim / 2 = " + std::to_string(t.head_dim / 2) +
                    ", found " + std::to_string(section.size()) + " entries summing to " + std::to_string(mrope_sum));
    }
    require(v.num_heads > 0 && v.hidden_size % v.num_heads == 0 && v.head_dim() % 4 == 0,
            "vision_config: hidden_size " + std::to_string(v.hidden_size) + " must split into num_heads " +
                std::to_string(v.num_heads) + " heads whose size is a multiple of 4 (2-D RoPE)");
    require(v.out_hidden_size == t.hidden_size,
            "vision_config.out_hidden_size " + std::to_string(v.out_hidden_size) + " differs from text_config.hidden_size " +
                std::to_string(t.hidden_size) + ": the merger output could not enter the language model");
    for (const auto index : v.deepstack_visual_indexes)
        require(index >= 0 && index < v.depth, "vision_config.deepstack_visual_indexes holds " + std::to_string(index) +
                                                   ", outside the " + std::to_string(v.depth) + " vision blocks");
    require(static_cast<std::int64_t>(v.deepstack_visual_indexes.size()) <= t.num_hidden_layers,
            "more deepstack taps than language-model layers to receive them");
    const auto grid = static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(v.num_position_embeddings))));
    require(grid * grid == v.num_position_embeddings,
            "vision_config.num_position_embeddings " + std::to_string(v.num_position_embeddings) + " is not a square grid");
    for (const auto id : {c.image_token_id, c.video_token_id, c.vision_start_token_id, c.vision_end_token_id})
        require(id >= 0 && id < t.vocab_size, "special token id " + std::to_string(id) + " is outside the vocabulary of " +
                                                  std::to_string(t.vocab_size));
    return problems.take();
}

}  // namespace deepstack::qwen3_vl

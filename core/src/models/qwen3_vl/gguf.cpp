#include "models/qwen3_vl/gguf.h"

#include <array>
#include <utility>

#include "deepstack/error.h"
#include "deepstack/gguf.h"

namespace deepstack::qwen3_vl {

namespace {

std::int64_t token_id(const GgufFile& text, const std::string& content) {
    const auto& tokens = text.metadata().at("tokenizer.ggml.tokens");
    for (std::size_t i = 0; i < tokens.size(); ++i)
        if (tokens[i].is_string() && tokens[i].get<std::string>() == content) return static_cast<std::int64_t>(i);
    throw Error(ErrorKind::format, text.path().string(), "tokenizer.ggml.tokens",
                "has no " + content + ": this is not a Qwen3-VL vocabulary");
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// `name` with `from` at its start replaced by `to`, if it starts so.
std::optional<std::string> rename(const std::string& name, const std::string& from, const std::string& to) {
    if (!starts_with(name, from)) return std::nullopt;
    return to + name.substr(from.size());
}

}  // namespace

config::Json config_from_gguf(const GgufFile& text, const GgufFile* mmproj) {
    const auto arch = text.string("general.architecture");
    const auto key = [&](const std::string& k) { return arch + "." + k; };
    if (mmproj == nullptr)
        throw Error(ErrorKind::config, text.path().string(),
                    "Qwen3-VL's vision tower is in a separate mmproj .gguf file: name it (--mmproj) or put it beside the model");
    if (!text.has("tokenizer.ggml.tokens") || !text.metadata().at("tokenizer.ggml.tokens").is_array())
        throw Error(ErrorKind::format, text.path().string(), "tokenizer.ggml.tokens", "missing: the file carries no vocabulary");
    const auto projector = mmproj->string("clip.projector_type");
    if (projector != "qwen3vl_merger")
        throw Error(ErrorKind::unsupported, mmproj->path().string(), "clip.projector_type",
                    "is '" + projector + "'; a Qwen3-VL model needs the 'qwen3vl_merger' projector");

    config::Json t;
    t["model_type"] = "qwen3_vl_text";
    t["vocab_size"] = text.metadata().at("tokenizer.ggml.tokens").size();
    t["hidden_size"] = text.integer(key("embedding_length"));
    t["intermediate_size"] = text.integer(key("feed_forward_length"));
    t["num_hidden_layers"] = text.integer(key("block_count"));
    t["num_attention_heads"] = text.integer(key("attention.head_count"));
    t["num_key_value_heads"] = text.has(key("attention.head_count_kv")) ? text.integer(key("attention.head_count_kv"))
                                                                        : text.integer(key("attention.head_count"));
    if (text.has(key("attention.key_length"))) t["head_dim"] = text.integer(key("attention.key_length"));
    t["max_position_embeddings"] = text.integer(key("context_length"));
    t["rms_norm_eps"] = text.number(key("attention.layer_norm_rms_epsilon"));
    t["attention_bias"] = text.find("blk.0.attn_q.bias") != nullptr;
    t["hidden_act"] = "silu";
    const auto& sections = text.metadata().at(key("rope.dimension_sections"));
    if (!sections.is_array() || sections.size() < 3)
        throw Error(ErrorKind::format, text.path().string(), key("rope.dimension_sections"), "is not a list of at least 3 sizes");
    t["rope_parameters"] = {{"rope_type", "default"},
                            {"rope_theta", text.number(key("rope.freq_base"))},
                            {"mrope_interleaved", true},
                            {"mrope_section", {sections[0], sections[1], sections[2]}}};
    const bool tied = text.find("output.weight") == nullptr;
    t["tie_word_embeddings"] = tied;
    if (text.has("tokenizer.ggml.bos_token_id")) t["bos_token_id"] = text.integer("tokenizer.ggml.bos_token_id");
    if (text.has("tokenizer.ggml.eos_token_id")) t["eos_token_id"] = text.integer("tokenizer.ggml.eos_token_id");

    const auto& m = *mmproj;
    config::Json v;
    v["model_type"] = "qwen3_vl_vision";
    v["depth"] = m.integer("clip.vision.block_count");
    v["hidden_size"] = m.integer("clip.vision.embedding_length");
    v["intermediate_size"] = m.integer("clip.vision.feed_forward_length");
    v["num_heads"] = m.integer("clip.vision.attention.head_count");
    v["patch_size"] = m.integer("clip.vision.patch_size");
    v["spatial_merge_size"] = m.has("clip.vision.spatial_merge_size") ? m.integer("clip.vision.spatial_merge_size") : 2;
    v["out_hidden_size"] = m.integer("clip.vision.projection_dim");
    v["in_channels"] = 3;
    // llama.cpp splits the 3-D patch convolution into one per frame, and supports two frames only.
    v["temporal_patch_size"] = m.find("v.patch_embd.weight.1") != nullptr ? 2 : 1;
    v["hidden_act"] = "gelu_pytorch_tanh";
    if (const auto* positions = m.find("v.position_embd.weight"); positions != nullptr && positions->shape.size() == 2)
        v["num_position_embeddings"] = positions->shape[0];
    config::Json taps = config::Json::array();
    if (m.has("clip.vision.is_deepstack_layers")) {
        const auto& flags = m.metadata().at("clip.vision.is_deepstack_layers");
        for (std::size_t i = 0; i < flags.size(); ++i)
            if (flags[i].is_boolean() && flags[i].get<bool>()) taps.push_back(i);
    }
    v["deepstack_visual_indexes"] = taps;
    if (text.has(key("n_deepstack_layers")) && text.integer(key("n_deepstack_layers")) != static_cast<std::int64_t>(taps.size()))
        throw Error(ErrorKind::config, m.path().string(), "clip.vision.is_deepstack_layers",
                    "marks " + std::to_string(taps.size()) + " DeepStack layers, but the text model " + text.path().filename().string() +
                        " takes " + std::to_string(text.integer(key("n_deepstack_layers"))) + ": the mmproj belongs to another model");
    if (m.integer("clip.vision.projection_dim") != text.integer(key("embedding_length")))
        throw Error(ErrorKind::config, m.path().string(), "clip.vision.projection_dim",
                    std::to_string(m.integer("clip.vision.projection_dim")) + " differs from the text model's width " +
                        std::to_string(text.integer(key("embedding_length"))) + ": the mmproj belongs to another model");

    config::Json root;
    root["architectures"] = {"Qwen3VLForConditionalGeneration"};
    root["model_type"] = "qwen3_vl";
    root["text_config"] = t;
    root["vision_config"] = v;
    root["tie_word_embeddings"] = tied;
    root["image_token_id"] = token_id(text, "<|image_pad|>");
    root["video_token_id"] = token_id(text, "<|video_pad|>");
    root["vision_start_token_id"] = token_id(text, "<|vision_start|>");
    root["vision_end_token_id"] = token_id(text, "<|vision_end|>");
    return root;
}

models::GgufLocation gguf_location(const config::Fields& root, const std::string& name) {
    using Pairs = std::initializer_list<std::pair<const char*, const char*>>;
    const auto first_of = [&](const std::string& rest, Pairs pairs) -> std::optional<std::string> {
        for (const auto& [from, to] : pairs)
            if (auto renamed = rename(rest, from, to)) return renamed;
        return std::nullopt;
    };

    if (name == "lm_head.weight") return {false, {"output.weight"}};
    if (auto rest = rename(name, "model.language_model.", "")) {
        if (*rest == "embed_tokens.weight") return {false, {"token_embd.weight"}};
        if (*rest == "norm.weight") return {false, {"output_norm.weight"}};
        if (auto layer = rename(*rest, "layers.", "")) {
            const auto dot = layer->find('.');
            const auto index = layer->substr(0, dot), part = layer->substr(dot + 1);
            if (auto mapped = first_of(part, {{"input_layernorm.", "attn_norm."}, {"post_attention_layernorm.", "ffn_norm."},
                                              {"self_attn.q_proj.", "attn_q."}, {"self_attn.k_proj.", "attn_k."},
                                              {"self_attn.v_proj.", "attn_v."}, {"self_attn.o_proj.", "attn_output."},
                                              {"self_attn.q_norm.", "attn_q_norm."}, {"self_attn.k_norm.", "attn_k_norm."},
                                              {"mlp.gate_proj.", "ffn_gate."}, {"mlp.up_proj.", "ffn_up."},
                                              {"mlp.down_proj.", "ffn_down."}}))
                return {false, {"blk." + index + "." + *mapped}};
        }
        return {};
    }
    auto rest = rename(name, "model.visual.", "");
    if (!rest) return {};
    if (*rest == "patch_embed.proj.weight") return {true, {"v.patch_embd.weight", "v.patch_embd.weight.1"}, 2};
    if (*rest == "patch_embed.proj.bias") return {true, {"v.patch_embd.bias"}};
    if (*rest == "pos_embed.weight") return {true, {"v.position_embd.weight"}};
    if (auto block = rename(*rest, "blocks.", "")) {
        const auto dot = block->find('.');
        const auto index = block->substr(0, dot), part = block->substr(dot + 1);
        if (auto mapped = first_of(part, {{"norm1.", "ln1."}, {"norm2.", "ln2."}, {"attn.qkv.", "attn_qkv."},
                                          {"attn.proj.", "attn_out."}, {"mlp.linear_fc1.", "ffn_up."},
                                          {"mlp.linear_fc2.", "ffn_down."}}))
            return {true, {"v.blk." + index + "." + *mapped}};
        return {};
    }
    if (auto merger = rename(*rest, "merger.", "")) {
        if (auto mapped = first_of(*merger, {{"norm.", "v.post_ln."}, {"linear_fc1.", "mm.0."}, {"linear_fc2.", "mm.2."}}))
            return {true, {*mapped}};
        return {};
    }
    if (auto stack = rename(*rest, "deepstack_merger_list.", "")) {
        // llama.cpp numbers a DeepStack merger by the vision block it taps, Hugging Face by its order.
        const auto dot = stack->find('.');
        const auto k = static_cast<std::size_t>(std::stoll(stack->substr(0, dot)));
        const auto taps = root.object("vision_config").integers("deepstack_visual_indexes", {});
        if (k >= taps.size()) return {};
        if (auto mapped = first_of(stack->substr(dot + 1), {{"norm.", "norm."}, {"linear_fc1.", "fc1."}, {"linear_fc2.", "fc2."}}))
            return {true, {"v.deepstack." + std::to_string(taps[k]) + "." + *mapped}};
    }
    return {};
}

}  // namespace deepstack::qwen3_vl

#include "models/deepstack_llama/config.h"

#include <sstream>

namespace deepstack::deepstack_llama {

bool Config::has_flag(const std::string& flag) const {
    for (const auto& f : ablation_flags)
        if (f == flag) return true;
    return false;
}

std::optional<std::int64_t> Config::vit_stack_start_layer() const {
    if (!has_flag("deepstack_vit")) return std::nullopt;
    const std::string prefix = "lsvit_start_layer_";
    for (const auto& f : ablation_flags)
        if (f.rfind(prefix, 0) == 0) return std::stoll(f.substr(prefix.size()));
    return std::nullopt;
}

std::int64_t Config::vision_layers_used() const {
    // hidden_states holds the embeddings plus one entry per layer, so index -2 is the input of the last layer.
    const auto entries = vision.num_hidden_layers + 1;
    const auto index = mm_vision_select_layer < 0 ? entries + mm_vision_select_layer : mm_vision_select_layer;
    return index;
}

namespace {

std::vector<std::string> split_flags(const std::string& text) {
    std::vector<std::string> flags;
    std::stringstream in(text);
    std::string flag;
    while (std::getline(in, flag, '+'))
        if (!flag.empty()) flags.push_back(flag);
    return flags;
}

ClipVisionConfig clip_from_fields(const config::Fields& f) {
    ClipVisionConfig v;
    v.hidden_size = f.count("hidden_size", 1 << 16);
    v.intermediate_size = f.count("intermediate_size", 1 << 20);
    v.num_hidden_layers = f.count("num_hidden_layers", 1024);
    v.num_attention_heads = f.count("num_attention_heads", 1024);
    v.num_channels = f.count("num_channels", 3, 16);
    v.image_size = f.count("image_size", 16384);
    v.patch_size = f.count("patch_size", 1024);
    v.layer_norm_eps = f.number("layer_norm_eps", 1e-5);
    v.hidden_act = f.string("hidden_act", "quick_gelu");
    return v;
}

}  // namespace

Config parse_config(const config::Fields& root) {
    Config c;
    auto& t = c.text;
    t.vocab_size = root.count("vocab_size", 32000, 1 << 24);
    t.hidden_size = root.count("hidden_size", 1 << 16);
    t.intermediate_size = root.count("intermediate_size", 1 << 20);
    t.num_hidden_layers = root.count("num_hidden_layers", 1024);
    t.num_attention_heads = root.count("num_attention_heads", 1024);
    t.num_key_value_heads = root.count("num_key_value_heads", t.num_attention_heads, 1024);
    t.max_position_embeddings = root.count("max_position_embeddings", 4096, 1 << 24);
    t.rms_norm_eps = root.number("rms_norm_eps", 1e-5);
    t.rope_theta = root.number("rope_theta", 10000.0);
    t.attention_bias = root.boolean("attention_bias", false);
    t.tie_word_embeddings = root.boolean("tie_word_embeddings", false);
    t.hidden_act = root.string("hidden_act", "silu");
    t.bos_token_id = root.integer("bos_token_id", 1);
    t.eos_token_id = root.first_integer("eos_token_id", 2);
    t.pad_token_id = root.integer("pad_token_id", 0);
    if (root.has("rope_scaling")) throw root.error("rope_scaling", "RoPE scaling is not supported for this family");

    c.mm_hidden_size = root.count("mm_hidden_size", 1024, 1 << 16);
    c.mm_projector_type = root.string("mm_projector_type", "linear");
    c.mm_vision_select_layer = root.integer("mm_vision_select_layer", -2);
    c.mm_vision_select_feature = root.string("mm_vision_select_feature", "patch");
    c.mm_vision_tower = root.string("mm_vision_tower", "");
    c.image_aspect_ratio = root.string("image_aspect_ratio", "");
    c.tokenizer_model_max_length = root.count("tokenizer_model_max_length", t.max_position_embeddings, 1 << 24);

    c.num_crops_defaulted = !root.has("num_crops");
    c.num_crops = root.count("num_crops", 4, 64);
    c.is_anyres_deepstack = root.boolean("is_anyres_deepstack", false);
    c.deepstack_sampling = root.string("deepstack_sampling", "2d");
    c.deepstack_start_id = root.integer("deepstack_start_id", 1);
    c.deepstack_interval = root.integer("deepstack_interval", 1);
    c.ablation_flags = split_flags(root.string("deepstack_args_for_ablation", ""));
    c.twoviews_unshare = root.boolean("twoviews_unshare", false);
    c.vicuna_system_prompt = root.string("vicuna_system_prompt", kVicunaSystemPrompt);
    c.mm_projector_norm = root.boolean("mm_projector_norm", false);
    c.deepstack_group_embedding = root.boolean("deepstack_group_embedding", false);

    if (const auto vision = root.optional_object("vision_config")) {
        c.vision = clip_from_fields(*vision);
        c.vision_config_source = "vision_config in config.json";
    } else if (c.mm_vision_tower.find("clip-vit-large-patch14-336") != std::string::npos) {
        c.vision = ClipVisionConfig{};  // the defaults are ViT-L/14 at 336 px
        c.vision_config_source = "CLIP ViT-L/14-336, named by mm_vision_tower";
    } else if (c.mm_vision_tower.find("clip-vit-large-patch14") != std::string::npos) {
        c.vision = ClipVisionConfig{};
        c.vision.image_size = 224;
        c.vision_config_source = "CLIP ViT-L/14-224, named by mm_vision_tower";
    } else {
        throw root.error("mm_vision_tower", "'" + c.mm_vision_tower +
                                                "' is not a CLIP tower this build knows; add a \"vision_config\" "
                                                "object (CLIPVisionConfig fields) to config.json");
    }
    return c;
}

std::vector<std::string> check_config(const Config& c) {
    config::Problems problems;
    auto require = [&](bool holds, const std::string& sentence) { problems.require(holds, sentence); };
    const auto& t = c.text;
    require(t.num_attention_heads > 0 && t.hidden_size % t.num_attention_heads == 0,
            "hidden_size " + std::to_string(t.hidden_size) + " does not split into " +
                std::to_string(t.num_attention_heads) + " attention heads");
    require(t.num_key_value_heads > 0 && t.num_attention_heads % t.num_key_value_heads == 0,
            "num_attention_heads is not a multiple of num_key_value_heads");
    require(c.image_aspect_ratio == "deepstack",
            "image_aspect_ratio is '" + c.image_aspect_ratio + "', not 'deepstack': this is not a DeepStack checkpoint");
    require(c.mm_projector_type == "mlp2x_gelu" || c.mm_projector_type == "linear",
            "mm_projector_type '" + c.mm_projector_type + "' is not one of mlp2x_gelu, linear");
    require(c.mm_vision_select_feature == "patch",
            "mm_vision_select_feature '" + c.mm_vision_select_feature + "' is not supported (only 'patch')");
    require(c.vision.hidden_size == c.mm_hidden_size,
            "mm_hidden_size " + std::to_string(c.mm_hidden_size) + " differs from the vision tower width " +
                std::to_string(c.vision.hidden_size));
    require(c.vision.patch_size > 0 && c.vision.image_size % c.vision.patch_size == 0,
            "vision image_size " + std::to_string(c.vision.image_size) + " is not a multiple of patch_size " +
                std::to_string(c.vision.patch_size));
    const auto used = c.vision_layers_used();
    require(used >= 1 && used <= c.vision.num_hidden_layers,
            "mm_vision_select_layer " + std::to_string(c.mm_vision_select_layer) + " is outside the " +
                std::to_string(c.vision.num_hidden_layers) + "-layer vision tower");
    require(c.deepstack_sampling == "2d" || c.deepstack_sampling == "1d" || c.deepstack_sampling == "grid",
            "deepstack_sampling '" + c.deepstack_sampling + "' is not one of 2d, 1d, grid");
    require(c.num_crops >= 1, "num_crops must be at least 1");
    require(c.deepstack_interval >= 1, "deepstack_interval must be at least 1");
    require(!c.twoviews_unshare, "twoviews_unshare is true; the released DeepStack code cannot run that way");
    if (c.stacks_disabled())
        require(!c.vit_stack_start_layer() && !c.is_anyres_deepstack, "nostack is only for the DeepStack-L layout (not -V or -HD)");
    if (const auto s = c.vit_stack_start_layer()) {
        require(*s >= 0 && *s + c.num_crops <= c.vision.num_hidden_layers,
                "DeepStack-V start layer " + std::to_string(*s) + " + " + std::to_string(c.num_crops) +
                    " stacks runs past the " + std::to_string(c.vision.num_hidden_layers) + "-layer vision tower");
    } else if (c.has_flag("deepstack_vit")) {
        problems.add("deepstack_args_for_ablation has deepstack_vit but no lsvit_start_layer_N");
    } else {
        // A group whose layer is past the last one is never added (the authors' loop only visits real layers):
        // describe() says so; only a start outside the model is an error.
        require(c.deepstack_start_id >= 0 && c.deepstack_start_id < t.num_hidden_layers,
                "deepstack_start_id " + std::to_string(c.deepstack_start_id) + " is outside the " +
                    std::to_string(t.num_hidden_layers) + "-layer language model");
    }
    return problems.take();
}

}  // namespace deepstack::deepstack_llama

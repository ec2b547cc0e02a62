#include "tiny_folders.h"

#include <vector>

#include "config/json_fields.h"
#include "models/registry.h"
#include "test_files.h"

namespace deepstack::testing {

using nlohmann::json;

json tiny_qwen3_vl_config() {
    return {
        {"architectures", {"Qwen3VLForConditionalGeneration"}},
        {"model_type", "qwen3_vl"},
        {"image_token_id", 252},
        {"video_token_id", 253},
        {"vision_start_token_id", 250},
        {"vision_end_token_id", 251},
        {"tie_word_embeddings", true},
        {"text_config",
         {{"model_type", "qwen3_vl_text"}, {"vocab_size", 256}, {"hidden_size", 64}, {"intermediate_size", 96},
          {"num_hidden_layers", 4}, {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 16},
          {"max_position_embeddings", 4096}, {"rms_norm_eps", 1e-6}, {"rope_theta", 5000000},
          {"rope_scaling", {{"mrope_interleaved", true}, {"mrope_section", {4, 2, 2}}, {"rope_type", "default"}}},
          {"tie_word_embeddings", true}, {"bos_token_id", 248}, {"eos_token_id", 249}}},
        {"vision_config",
         {{"model_type", "qwen3_vl"}, {"depth", 4}, {"hidden_size", 32}, {"intermediate_size", 64}, {"num_heads", 2},
          {"in_channels", 3}, {"patch_size", 16}, {"temporal_patch_size", 2}, {"spatial_merge_size", 2},
          {"out_hidden_size", 64}, {"num_position_embeddings", 64}, {"deepstack_visual_indexes", {1, 2, 3}},
          {"hidden_act", "gelu_pytorch_tanh"}}},
    };
}

json tiny_qwen3_vl_config_real_vocabulary() {
    auto config = tiny_qwen3_vl_config();
    config["image_token_id"] = 151655;
    config["video_token_id"] = 151656;
    config["vision_start_token_id"] = 151652;
    config["vision_end_token_id"] = 151653;
    config["text_config"]["vocab_size"] = 151936;
    config["text_config"]["bos_token_id"] = 151643;
    config["text_config"]["eos_token_id"] = 151645;
    return config;
}

json tiny_deepstack_llama_config() {
    return {
        {"architectures", {"DeepstackLlamaForCausalLM"}},
        {"model_type", "deepstack_llama"},
        {"vocab_size", 400},
        {"hidden_size", 64},
        {"intermediate_size", 128},
        {"num_hidden_layers", 6},
        {"num_attention_heads", 4},
        {"num_key_value_heads", 4},
        {"max_position_embeddings", 1024},
        {"rms_norm_eps", 1e-5},
        {"rope_theta", 10000.0},
        {"tie_word_embeddings", false},
        {"bos_token_id", 1},
        {"eos_token_id", 2},
        {"pad_token_id", 0},
        {"image_aspect_ratio", "deepstack"},
        {"mm_hidden_size", 32},
        {"mm_projector_type", "mlp2x_gelu"},
        {"mm_vision_select_layer", -2},
        {"mm_vision_select_feature", "patch"},
        {"mm_vision_tower", "tiny-clip"},
        {"num_crops", 4},
        {"tokenizer_model_max_length", 1024},
        {"vision_config",
         {{"hidden_size", 32}, {"intermediate_size", 64}, {"num_hidden_layers", 3}, {"num_attention_heads", 2},
          {"image_size", 56}, {"patch_size", 14}, {"layer_norm_eps", 1e-5}, {"hidden_act", "quick_gelu"}}},
    };
}

namespace {

void write_qwen_tokenizer(const std::filesystem::path& folder, const FolderOptions& options) {
    // Byte-level BPE needs its 256 byte symbols; ids 248..255 are the special tokens.
    json vocab = json::object();
    for (int i = 0; i < 248; ++i) vocab["b" + std::to_string(i)] = i;
    json added = json::array();
    std::map<std::string, int> special = {{"<|endoftext|>", 248}, {"<|im_end|>", 249}, {"<|vision_start|>", 250},
                                          {"<|vision_end|>", 251}, {"<|image_pad|>", 252}, {"<|video_pad|>", 253}};
    for (const auto& [content, id] : options.special_token_ids) special[content] = id;
    for (const auto& [content, id] : special) added.push_back({{"id", id}, {"content", content}, {"special", true}});
    write_json(folder / "tokenizer.json", {{"version", "1.0"}, {"added_tokens", added}, {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array()}}}});
    write_json(folder / "tokenizer_config.json", {{"eos_token", "<|im_end|>"}, {"chat_template", "{{ messages }}"}, {"model_max_length", 4096}});
}

}  // namespace

void write_tiny_folder(const std::filesystem::path& folder, const json& config, const FolderOptions& options) {
    std::filesystem::create_directories(folder);
    write_json(folder / "config.json", config);
    const auto arch = models::describe(config::Fields(config, "config.json"));
    const bool qwen = arch.family.starts_with("qwen3_vl");
    if (qwen) {
        const auto eos = config["text_config"].value("eos_token_id", 249);
        write_json(folder / "generation_config.json", {{"eos_token_id", {eos}}, {"top_k", 20}, {"top_p", 0.8}, {"temperature", 0.7}});
        write_json(folder / "preprocessor_config.json",
                   {{"size", {{"longest_edge", 16777216}, {"shortest_edge", 65536}}}, {"patch_size", 16}, {"temporal_patch_size", 2},
                    {"merge_size", 2}, {"image_mean", {0.5, 0.5, 0.5}}, {"image_std", {0.5, 0.5, 0.5}},
                    {"image_processor_type", "Qwen2VLImageProcessorFast"}});
        if (!options.tokenizer_json.empty())
            std::filesystem::copy_file(options.tokenizer_json, folder / "tokenizer.json", std::filesystem::copy_options::overwrite_existing);
        else if (options.tokenizer)
            write_qwen_tokenizer(folder, options);
    } else if (options.tokenizer) {
        std::filesystem::copy_file(data_dir() / "tokenizers" / "tiny-llama-sp.model", folder / "tokenizer.model",
                                   std::filesystem::copy_options::overwrite_existing);
    }

    struct Pending {
        std::string name;
        Shape shape;
    };
    std::vector<Pending> pending;
    for (const auto& spec : arch.tensors) {
        if (spec.optional || options.drop.contains(spec.name)) continue;
        const auto it = options.reshape.find(spec.name);
        pending.push_back({spec.name, it == options.reshape.end() ? spec.shape : it->second});
    }
    for (const auto& [name, shape] : options.extra) pending.push_back({name, shape});

    const int shards = std::max(1, options.shards);
    json weight_map = json::object();
    for (int s = 0; s < shards; ++s) {
        std::vector<std::vector<std::byte>> storage;
        std::vector<TensorToWrite> tensors;
        storage.reserve(pending.size());
        for (std::size_t i = static_cast<std::size_t>(s); i < pending.size(); i += static_cast<std::size_t>(shards)) {
            const auto& p = pending[i];
            storage.emplace_back(static_cast<std::size_t>(shape_numel(p.shape)) * 2);
            for (std::size_t b = 0; b < storage.back().size(); ++b) storage.back()[b] = static_cast<std::byte>((b * 13 + i) & 0x3f);
            tensors.push_back({p.name, DType::bf16, p.shape, storage.back()});
        }
        const auto file = shards == 1 ? std::string("model.safetensors")
                                      : "model-0000" + std::to_string(s + 1) + "-of-0000" + std::to_string(shards) + ".safetensors";
        write_safetensors(folder / file, tensors, {{"format", "pt"}});
        for (const auto& t : tensors) weight_map[t.name] = file;
    }
    if (shards > 1) write_json(folder / "model.safetensors.index.json", {{"metadata", json::object()}, {"weight_map", weight_map}});
}

}  // namespace deepstack::testing

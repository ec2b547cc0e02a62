// Tiny but complete model folders written on the fly: a config, the side files, and a safetensors checkpoint
// whose tensors have exactly the shapes the config implies (or deliberately not, for the error tests).
#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "deepstack/safetensors.h"

namespace deepstack::testing {

// Qwen3-VL with every size cut down (vocabulary 256; special tokens at 250..253).
nlohmann::json tiny_qwen3_vl_config();
// The same widths with Qwen3's real vocabulary and special token ids, to pair with the real tokenizer.
nlohmann::json tiny_qwen3_vl_config_real_vocabulary();
// DeepStack-L with a tiny CLIP tower given by "vision_config" and a 6-layer LLaMA.
nlohmann::json tiny_deepstack_llama_config();

struct FolderOptions {
    int shards = 1;
    std::set<std::string> drop = {};                 // tensors left out
    std::map<std::string, Shape> reshape = {};       // tensors written with another shape
    std::map<std::string, Shape> extra = {};         // tensors the config does not know
    bool tokenizer = true;                      // write tokenizer files
    std::map<std::string, int> special_token_ids = {};  // override ids in the written tokenizer.json
    std::filesystem::path tokenizer_json = {};          // copy this tokenizer.json instead of writing a toy one
};

// Writes config.json, generation_config.json, tokenizer files and the weights (bf16, a fixed pattern).
void write_tiny_folder(const std::filesystem::path& folder, const nlohmann::json& config, const FolderOptions& options = {});

}  // namespace deepstack::testing

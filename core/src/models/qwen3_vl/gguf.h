// Qwen3-VL as llama.cpp stores it: a text GGUF (general.architecture "qwen3vl") and an mmproj GGUF ("clip",
// projector "qwen3vl_merger") holding the vision tower, its merger and the DeepStack mergers. Torch-free.
#pragma once

#include <string>

#include "config/json_fields.h"
#include "models/registry.h"

namespace deepstack {
class GgufFile;
}

namespace deepstack::qwen3_vl {

// The config.json the two files' metadata describe (Hugging Face's field names); Error(format) naming the file
// and the key when a needed key is missing, Error(config) when there is no mmproj.
config::Json config_from_gguf(const GgufFile& text, const GgufFile* mmproj);

// Where checkpoint tensor `name` lies in the files (llama.cpp's convert_hf_to_gguf.py names).
models::GgufLocation gguf_location(const config::Fields& root, const std::string& name);

}  // namespace deepstack::qwen3_vl

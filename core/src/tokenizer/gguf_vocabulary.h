// A GGUF file's vocabulary (tokenizer.ggml.*) written back as the Hugging Face files it came from, so that the
// one tokenizer reader serves both: tokenizer.json (a byte-level BPE with its pre-tokenizer) and the parts of
// tokenizer_config.json the app reads (chat template, BOS and EOS). Torch-free.
#pragma once

#include "config/json_fields.h"

namespace deepstack {
class GgufFile;
}

namespace deepstack::tokenizer {

// Error(unsupported) naming the file for a vocabulary kind or pre-tokenizer this version does not read.
config::Json tokenizer_json_from_gguf(const GgufFile& file);
config::Json tokenizer_config_from_gguf(const GgufFile& file);

}  // namespace deepstack::tokenizer

// A Hugging Face style model folder, read into typed values: the family, its generation and preprocessing
// settings, its tokenizer files. Nothing here loads weights; see inspect.h for the full report.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace deepstack {

// generation_config.json; every field is optional in the file.
struct GenerationConfig {
    bool present = false;
    std::vector<std::int64_t> eos_token_ids;
    std::optional<std::int64_t> bos_token_id;
    std::optional<std::int64_t> pad_token_id;
    bool do_sample = false;
    std::optional<double> temperature;
    std::optional<double> top_p;
    std::optional<std::int64_t> top_k;
    std::optional<double> repetition_penalty;
    std::optional<double> presence_penalty;
    std::optional<std::int64_t> max_new_tokens;
};

// preprocessor_config.json of a Qwen2-VL style processor or a CLIP image processor.
struct ImagePreprocessorConfig {
    bool present = false;
    std::string processor_type;  // image_processor_type, e.g. "Qwen2VLImageProcessorFast", "CLIPImageProcessor"
    std::int64_t min_pixels = 0;  // Qwen: size.shortest_edge (a pixel count, not an edge)
    std::int64_t max_pixels = 0;  // Qwen: size.longest_edge
    std::int64_t patch_size = 0;
    std::int64_t temporal_patch_size = 0;
    std::int64_t merge_size = 0;
    std::int64_t crop_size = 0;  // CLIP
    std::array<double, 3> image_mean{};
    std::array<double, 3> image_std{};
};

enum class TokenizerKind { none, byte_level_bpe, sentencepiece };

struct TokenizerFiles {
    TokenizerKind kind = TokenizerKind::none;
    std::filesystem::path tokenizer_json;   // Hugging Face tokenizers file (byte-level BPE)
    std::filesystem::path tokenizer_model;  // sentencepiece model
    std::int64_t vocab_entries = 0;         // the model's own vocabulary
    std::int64_t added_tokens = 0;
    std::int64_t max_token_id = -1;         // over vocabulary and added tokens
    std::map<std::string, std::int64_t> special_tokens;  // content -> id, e.g. "<|image_pad|>" -> 151655
    std::optional<std::string> chat_template;             // from tokenizer_config.json or chat_template.json
    std::optional<std::string> bos_token;
    std::optional<std::string> eos_token;
    std::optional<std::int64_t> model_max_length;
};

std::string_view to_string(TokenizerKind kind);

GenerationConfig read_generation_config(const std::filesystem::path& file);
ImagePreprocessorConfig read_preprocessor_config(const std::filesystem::path& file);
// Reads whichever tokenizer files the folder has (tokenizer.json, tokenizer.model, tokenizer_config.json,
// chat_template.json); kind none when there are none.
TokenizerFiles read_tokenizer_files(const std::filesystem::path& folder);

// ---- llama.cpp's GGUF files ------------------------------------------------------------------------------------
// A GGUF model is a text .gguf and, for a vision-language model, the mmproj .gguf that holds its vision tower. The
// core reads it as a model folder: one under `cache_root` (default: $XDG_CACHE_HOME/deepstack-studio/gguf) holds
// what the metadata says as config.json, tokenizer.json, tokenizer_config.json (chat template),
// generation_config.json and preprocessor_config.json, and gguf.json names the two files, whose weights are read
// in place. The folder is written once per version of the files. `mmproj` unset: find_mmproj().
std::filesystem::path gguf_model_folder(const std::filesystem::path& gguf, std::optional<std::filesystem::path> mmproj = std::nullopt,
                                        std::filesystem::path cache_root = {});
// The one *mmproj*.gguf beside `gguf` (of several, the one whose name before "mmproj" begins the model's name, as
// in llama.cpp's download cache), nullopt when there is none; Error(config) when it cannot be told which.
std::optional<std::filesystem::path> find_mmproj(const std::filesystem::path& gguf);
// The text model .gguf files other apps have downloaded: LM Studio's (~/.lmstudio/models, ~/.cache/lm-studio/models)
// and llama.cpp's (LLAMA_CACHE, else ~/.cache/llama.cpp), mmproj files left out; sorted by app and path.
struct OtherAppModel {
    std::string app;  // "LM Studio", "llama.cpp"
    std::filesystem::path file;
};
std::vector<OtherAppModel> gguf_models_of_other_apps();
// What --model names, as a folder to load: a folder as it is, a .gguf through gguf_model_folder.
std::filesystem::path resolve_model_path(const std::filesystem::path& model,
                                         const std::optional<std::filesystem::path>& mmproj = std::nullopt);

}  // namespace deepstack

// `inspect`: everything the core can tell about a model folder without loading it: the family, the parameter
// count of each part read from the tensors, dtypes and bytes, the DeepStack plan, the memory a bf16 run needs,
// and every problem found (missing files, configs that disagree with each other or with the tensor shapes).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace deepstack {

struct InspectPart {
    std::string name;              // "vision tower", "mergers" / "projector", "language model", "other"
    std::int64_t parameters = 0;   // counted from the checkpoint's tensors
    std::uint64_t bytes = 0;       // as stored
    std::int64_t tensors = 0;
};

struct InspectStack {
    std::string group;
    std::string source;
    std::string target;
    int target_layer = 0;
    std::string placement;
};

struct InspectMemory {
    std::uint64_t weights_bytes = 0;       // all parameters at bf16
    std::uint64_t kv_cache_bytes = 0;      // at `context_tokens`
    std::uint64_t workspace_bytes = 0;     // activations, estimated from the shapes
    std::uint64_t runtime_bytes = 0;       // the CUDA context and allocator slack (GPU), 0 on CPU
    std::uint64_t total_bytes() const { return weights_bytes + kv_cache_bytes + workspace_bytes + runtime_bytes; }
};

struct InspectReport {
    std::filesystem::path folder;
    std::string model_type;    // as written in config.json
    std::string family;        // the family that runs it; empty when unknown
    std::string display_name;  // "Qwen3-VL", "DeepStack-L (LLaVA)"
    bool runnable = false;     // this build can load and run it
    std::string not_runnable_reason;

    std::vector<std::pair<std::string, std::string>> facts;
    std::vector<std::pair<std::string, bool>> files;  // known file names and whether present

    std::vector<InspectPart> parts;
    std::int64_t total_parameters = 0;
    std::map<std::string, std::pair<std::int64_t, std::uint64_t>> dtypes;  // dtype -> (tensors, bytes)
    std::uint64_t weight_file_bytes = 0;
    std::int64_t shards = 0;
    bool gguf = false;  // the weights are llama.cpp GGUF files (gguf_model_folder), read in place

    std::string tokenizer;  // kind
    std::int64_t tokenizer_vocab = 0;
    bool has_chat_template = false;

    std::vector<InspectStack> deepstack_plan;
    std::int64_t context_tokens = 0;          // the context the memory estimate assumes
    std::int64_t longest_context_tokens = 0;  // the window the model was trained for; 0: not known
    std::uint64_t kv_cache_bytes_per_token = 0;
    InspectMemory cpu;
    InspectMemory gpu;

    std::vector<std::string> problems;  // any entry means the folder cannot be used as it is
    std::vector<std::string> warnings;
    std::vector<std::string> notes;

    bool ok() const { return problems.empty(); }
};

// Never throws for problems in the folder: they are collected in `problems`, as many as can be found.
InspectReport inspect_model_folder(const std::filesystem::path& folder);
// inspect_model_folder of what a user names as a model: a folder, or a llama.cpp .gguf file (with the mmproj beside
// it) read as one (resolve_model_path); a .gguf that cannot be read so is a report with that problem.
InspectReport inspect_model(const std::filesystem::path& model);

std::string to_json(const InspectReport& report);  // pretty-printed
std::string to_text(const InspectReport& report);  // for people

std::string human_bytes(std::uint64_t bytes);         // "4.26 GB"
std::string human_count(std::int64_t count);          // "2.13 B"

}  // namespace deepstack

// The one place that maps a config.json to the family that runs it: a table with one entry per family, each
// entry made in its family's folder (models/<model_type>/family.cpp). describe, inspect, the stack plan and the
// engine all ask family_of(), so they cannot disagree about which family a folder is.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "config/json_fields.h"
#include "deepstack/stack_plan.h"
#include "models/architecture.h"

namespace deepstack {
class GgufFile;
}

namespace deepstack::models {

// Where a checkpoint tensor (by its Hugging Face name) lies in a GGUF model: one tensor of the text file or of
// the mmproj, or several stacked along `stack_dim` (llama.cpp stores Qwen's 3-D patch convolution as one 2-D
// convolution per frame).
struct GgufLocation {
    bool in_mmproj = false;
    std::vector<std::string> names;  // empty: this tensor has no place in a GGUF file
    std::int64_t stack_dim = 0;
};

// A model family as the LibTorch-free core knows it (the engine picks its LibTorch side by `name`).
struct Family {
    std::string name;                        // its model_type: "qwen3_vl", "deepstack_llama"
    std::vector<std::string> model_types;    // the config model_type values it reads
    std::vector<std::string> architectures;  // config "architectures" entries that name it when model_type does not
    // Anything else that marks a config as this family's (null: nothing).
    bool (*also_recognises)(const config::Fields& root) = nullptr;
    ArchitectureDescription (*describe)(const config::Fields& root) = nullptr;
    // Which token enters where for a width x height picture; `folder` holds config.json's neighbours (the
    // preprocessor's pixel budget); a non-zero min/max pixels overrides the folder's budget.
    StackPlan (*stack_plan)(const config::Fields& root, const std::filesystem::path& folder, std::int64_t width,
                            std::int64_t height, std::int64_t min_pixels, std::int64_t max_pixels) = nullptr;

    // llama.cpp's GGUF files of this family (none when gguf_architectures is empty): the general.architecture of
    // its text file, the config.json that the text file's and the mmproj's metadata describe, and where each tensor
    // of that config's checkpoint lies in them.
    std::vector<std::string> gguf_architectures;
    config::Json (*config_from_gguf)(const GgufFile& text, const GgufFile* mmproj) = nullptr;
    GgufLocation (*gguf_location)(const config::Fields& root, const std::string& name) = nullptr;
};

// Every family of this build; adding one is its folder plus one line here (registry.cpp).
const std::vector<Family>& families();

// The family of a config. Throws Error(unsupported) naming the model_type and the known ones.
const Family& family_of(const config::Fields& root);

// family_of(root).describe(root). Throws Error(unsupported) for an unknown family, Error(config) on bad fields.
ArchitectureDescription describe(const config::Fields& root);

std::vector<std::string> known_model_types();

// The family whose GGUF text files carry general.architecture `architecture`, or nullptr.
const Family* family_of_gguf(const std::string& architecture);

}  // namespace deepstack::models

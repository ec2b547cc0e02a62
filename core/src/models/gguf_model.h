// A llama.cpp model (a text .gguf and the mmproj .gguf with its vision tower) read as a model folder. The folder
// (deepstack::gguf_model_folder) holds what the GGUF metadata says, written as the Hugging Face files it was
// converted from (config.json, tokenizer.json, ...), and gguf.json naming the two files; the weights stay in
// the GGUF files and GgufCheckpoint gives them under the checkpoint's names. Torch-free.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "deepstack/gguf.h"
#include "deepstack/safetensors.h"
#include "models/architecture.h"

namespace deepstack::models {

struct GgufModelFiles {
    std::filesystem::path text;
    std::optional<std::filesystem::path> mmproj;
};

// The files a model folder's gguf.json names; nullopt for an ordinary (safetensors) folder.
std::optional<GgufModelFiles> gguf_files_of(const std::filesystem::path& folder);

// The tensors of a GGUF model folder under the names of the checkpoint its config.json describes. Opening checks
// what a safetensors checkpoint is checked for: every declared tensor present with its shape, no tensor left over.
class GgufCheckpoint {
public:
    struct Entry {
        std::string name;  // the checkpoint's (Hugging Face) name
        Shape shape;       // as the checkpoint has it (parts stacked)
        const GgufFile* file = nullptr;
        std::vector<const GgufTensor*> parts;  // one, or several stacked along stack_dim
        std::int64_t stack_dim = 0;
        std::uint64_t bytes = 0;
    };

    static GgufCheckpoint open(const std::filesystem::path& folder, const ArchitectureDescription& architecture);

    const std::vector<Entry>& entries() const { return entries_; }
    const Entry* find(const std::string& name) const;
    const GgufFile& text() const { return *text_; }
    const GgufFile* mmproj() const { return mmproj_.get(); }
    std::uint64_t file_bytes() const;
    void drop_resident_pages() const;  // of both files

private:
    std::shared_ptr<const GgufFile> text_, mmproj_;
    std::vector<Entry> entries_;
};

}  // namespace deepstack::models

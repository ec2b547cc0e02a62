// GGUF files (llama.cpp's model format, version 2 and 3): the metadata and the tensor directory, read through a
// memory map with every count, length and offset checked against the file, so that a damaged or hostile file
// is an Error (naming the file, the byte offset and what was wrong), never a crash or a huge allocation.
// No LibTorch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace deepstack {

namespace io {
class MappedFile;
}

struct GgufTensor {
    std::string name;
    std::vector<std::int64_t> shape;  // outermost first, as PyTorch orders it (GGUF stores the reverse)
    std::uint32_t ggml_type = 0;      // GGML's type id (0 F32, 1 F16, 8 Q8_0, 12 Q4_K, 30 BF16, ...)
    std::string type_name;            // "Q4_K"
    std::uint64_t offset = 0;         // in the file
    std::uint64_t bytes = 0;
};

class GgufFile {
public:
    static GgufFile open(const std::filesystem::path& path);

    const std::filesystem::path& path() const { return path_; }
    // See io::MappedFile::drop_resident_pages.
    void drop_resident_pages() const;
    std::uint32_t version() const { return version_; }
    std::uint64_t alignment() const { return alignment_; }

    // Every key with its value: integers, floats, booleans and strings as JSON scalars, arrays as JSON arrays.
    const nlohmann::ordered_json& metadata() const { return metadata_; }
    bool has(const std::string& key) const { return metadata_.contains(key); }
    // The value of `key` as a string / integer / float; Error (format) naming the key when it is absent or of
    // another type.
    std::string string(const std::string& key) const;
    std::int64_t integer(const std::string& key) const;
    double number(const std::string& key) const;

    const std::vector<GgufTensor>& tensors() const { return tensors_; }
    const GgufTensor* find(const std::string& name) const;  // nullptr when absent
    std::span<const std::uint8_t> data(const GgufTensor& tensor) const;

private:
    std::filesystem::path path_;
    std::shared_ptr<const io::MappedFile> file_;
    std::uint32_t version_ = 0;
    std::uint64_t alignment_ = 32;
    nlohmann::ordered_json metadata_;
    std::vector<GgufTensor> tensors_;
};

// GGML's name of a type id ("Q4_K"), or nullopt for an id this version does not know.
std::optional<std::string> ggml_type_name(std::uint32_t type);

}  // namespace deepstack

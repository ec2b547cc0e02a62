// Reading (and writing) weights in the safetensors format, without ever executing anything from a model file.
//
// A SafetensorsFile memory-maps one file and validates its whole header up front: header length bound, valid
// JSON without duplicate names, known dtypes, shape x dtype size equal to each byte range, ranges inside the
// data area, contiguous and not overlapping. A Checkpoint is a model folder's weights: one file, or several
// shards listed by model.safetensors.index.json. Tensors come out as TensorViews that point into the mapping;
// nothing is copied until a caller asks for another dtype or device (see the core's torch bridge).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace deepstack {

enum class DType { boolean, u8, i8, u16, i16, u32, i32, u64, i64, f8_e4m3, f8_e5m2, f16, bf16, f32, f64 };

std::string_view dtype_name(DType dtype);                  // the safetensors spelling: "BF16", "F32", ...
std::optional<DType> dtype_from_name(std::string_view name);
std::size_t dtype_size(DType dtype);                        // bytes per element
bool dtype_is_floating(DType dtype);

using Shape = std::vector<std::int64_t>;
std::string shape_to_string(const Shape& shape);             // "[151936, 2048]"
std::int64_t shape_numel(const Shape& shape);

// One entry of a safetensors header. Offsets are relative to the start of the data area, as in the file.
struct TensorInfo {
    std::string name;
    DType dtype = DType::f32;
    Shape shape;
    std::uint64_t begin = 0;
    std::uint64_t end = 0;

    std::int64_t numel() const { return shape_numel(shape); }
    std::uint64_t nbytes() const { return end - begin; }
};

// A tensor's bytes inside a mapped file. `keep_alive` holds the mapping open for as long as any view lives.
struct TensorView {
    const TensorInfo* info = nullptr;
    const std::byte* data = nullptr;
    std::shared_ptr<const void> keep_alive;
    std::filesystem::path file;

    const std::string& name() const { return info->name; }
    DType dtype() const { return info->dtype; }
    const Shape& shape() const { return info->shape; }
    std::uint64_t nbytes() const { return info->nbytes(); }
};

class SafetensorsFile {
public:
    // Maps and validates the file; throws deepstack::Error naming the file (and tensor) on any violation.
    static SafetensorsFile open(const std::filesystem::path& path);

    const std::filesystem::path& path() const { return path_; }
    std::uint64_t file_size() const { return file_size_; }
    std::uint64_t header_size() const { return header_size_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    const std::vector<TensorInfo>& tensors() const { return tensors_; }  // in data order

    bool contains(std::string_view name) const;
    const TensorInfo& info(std::string_view name) const;  // throws if absent
    TensorView view(std::string_view name) const;         // throws if absent
    // Takes the file's pages out of this process's resident memory; see io::MappedFile::drop_resident_pages.
    void drop_resident_pages() const;

private:
    SafetensorsFile() = default;
    const TensorInfo* find(std::string_view name) const;

    std::filesystem::path path_;
    std::shared_ptr<const void> mapping_;
    const std::byte* data_area_ = nullptr;
    std::uint64_t file_size_ = 0;
    std::uint64_t header_size_ = 0;
    std::map<std::string, std::string> metadata_;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, std::size_t, std::less<>> index_;
};

// The weights of a model folder, single-file or sharded.
class Checkpoint {
public:
    // `path` is a folder (model.safetensors.index.json, else model.safetensors, else its only *.safetensors
    // file), an index file, or a single .safetensors file.
    static Checkpoint open(const std::filesystem::path& path);

    const std::vector<SafetensorsFile>& files() const { return files_; }
    std::vector<std::string> names() const;  // sorted
    std::size_t size() const { return where_.size(); }
    bool contains(std::string_view name) const;
    const TensorInfo& info(std::string_view name) const;  // throws if absent
    const SafetensorsFile& file_of(std::string_view name) const;
    TensorView view(std::string_view name) const;
    std::uint64_t total_tensor_bytes() const;
    void drop_resident_pages() const;  // of every file
    // Harmless oddities worth a log line (an index total_size that disagrees with the shards, for instance).
    const std::vector<std::string>& warnings() const { return warnings_; }

private:
    static Checkpoint open_index(const std::filesystem::path& index_path);

    std::vector<SafetensorsFile> files_;
    std::map<std::string, std::size_t, std::less<>> where_;  // tensor name -> index into files_
    std::vector<std::string> warnings_;
};

// A tensor to write: its bytes must be numel x dtype_size long, little-endian.
struct TensorToWrite {
    std::string name;
    DType dtype = DType::f32;
    Shape shape;
    std::span<const std::byte> bytes;
};

// Writes a safetensors file atomically (a temporary file renamed over the target), header padded to 8 bytes.
void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace deepstack

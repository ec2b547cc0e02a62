#include "deepstack/safetensors.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "config/json_fields.h"
#include "deepstack/error.h"
#include "io/mapped_file.h"

namespace deepstack {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------------------------
// dtypes and shapes

namespace {
struct DTypeEntry {
    DType dtype;
    std::string_view name;
    std::size_t size;
    bool floating;
};
constexpr std::array<DTypeEntry, 15> kDTypes{{
    {DType::boolean, "BOOL", 1, false}, {DType::u8, "U8", 1, false},           {DType::i8, "I8", 1, false},
    {DType::u16, "U16", 2, false},      {DType::i16, "I16", 2, false},         {DType::u32, "U32", 4, false},
    {DType::i32, "I32", 4, false},      {DType::u64, "U64", 8, false},         {DType::i64, "I64", 8, false},
    {DType::f8_e4m3, "F8_E4M3", 1, true}, {DType::f8_e5m2, "F8_E5M2", 1, true}, {DType::f16, "F16", 2, true},
    {DType::bf16, "BF16", 2, true},     {DType::f32, "F32", 4, true},          {DType::f64, "F64", 8, true},
}};

const DTypeEntry& entry_of(DType dtype) {
    for (const auto& e : kDTypes)
        if (e.dtype == dtype) return e;
    throw Error(ErrorKind::internal, "", "unknown DType value");
}

std::string known_dtype_list() {
    std::string list;
    for (const auto& e : kDTypes) list += (list.empty() ? "" : ", ") + std::string(e.name);
    return list;
}

// The safetensors reference implementation refuses headers above 100 MB; so do we, before allocating anything.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
}  // namespace

std::string_view dtype_name(DType dtype) { return entry_of(dtype).name; }
std::size_t dtype_size(DType dtype) { return entry_of(dtype).size; }
bool dtype_is_floating(DType dtype) { return entry_of(dtype).floating; }

std::optional<DType> dtype_from_name(std::string_view name) {
    for (const auto& e : kDTypes)
        if (e.name == name) return e.dtype;
    return std::nullopt;
}

std::string shape_to_string(const Shape& shape) {
    std::string text = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
    return text + "]";
}

std::int64_t shape_numel(const Shape& shape) {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
}

// ---------------------------------------------------------------------------------------------------------------
// SafetensorsFile: header validation

namespace {

std::uint64_t read_le_u64(const std::byte* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
    return v;
}

std::string range_text(std::uint64_t begin, std::uint64_t end) {
    return "[" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

TensorInfo parse_entry(const std::string& file, const std::string& name, const json& entry) {
    auto fail = [&](const std::string& what) { return Error(ErrorKind::format, file, name, what); };
    if (!entry.is_object()) throw fail("header entry is not a JSON object");
    for (const char* key : {"dtype", "shape", "data_offsets"})
        if (!entry.contains(key)) throw fail(std::string("header entry has no '") + key + "'");

    TensorInfo info;
    info.name = name;
    const auto& dtype = entry.at("dtype");
    if (!dtype.is_string()) throw fail("'dtype' is not a string");
    const auto parsed = dtype_from_name(dtype.get<std::string>());
    if (!parsed)
        throw fail("unknown dtype '" + dtype.get<std::string>() + "' (known: " + known_dtype_list() + ")");
    info.dtype = *parsed;

    const auto& shape = entry.at("shape");
    if (!shape.is_array()) throw fail("'shape' is not a list");
    std::uint64_t numel = 1;
    bool overflow = false;
    for (const auto& d : shape) {
        if (!d.is_number_unsigned()) throw fail("'shape' " + shape.dump() + " holds a value that is not a non-negative integer");
        const auto dim = d.get<std::uint64_t>();
        if (dim > static_cast<std::uint64_t>(INT64_MAX)) overflow = true;
        overflow = overflow || __builtin_mul_overflow(numel, dim, &numel);
        info.shape.push_back(static_cast<std::int64_t>(std::min<std::uint64_t>(dim, INT64_MAX)));
    }
    std::uint64_t expected_bytes = 0;
    overflow = overflow || numel > static_cast<std::uint64_t>(INT64_MAX) ||
               __builtin_mul_overflow(numel, dtype_size(info.dtype), &expected_bytes);
    if (overflow) throw fail("shape " + shape.dump() + " has more elements than any file can hold");

    const auto& offsets = entry.at("data_offsets");
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
        throw fail("'data_offsets' " + offsets.dump() + " is not a pair of non-negative integers");
    info.begin = offsets[0].get<std::uint64_t>();
    info.end = offsets[1].get<std::uint64_t>();
    if (info.end < info.begin) throw fail("'data_offsets' " + offsets.dump() + " ends before it begins");
    if (info.end - info.begin != expected_bytes)
        throw fail("shape " + shape_to_string(info.shape) + " x " + std::string(dtype_name(info.dtype)) + " (" +
                   std::to_string(dtype_size(info.dtype)) + " bytes) needs " + std::to_string(expected_bytes) +
                   " bytes, but data_offsets " + range_text(info.begin, info.end) + " hold " +
                   std::to_string(info.end - info.begin));
    return info;
}

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
    const std::string file = path.string();
    auto mapping = io::MappedFile::open(path);
    const auto size = mapping->size();
    if (size < 8)
        throw Error(ErrorKind::format, file,
                    "file is " + std::to_string(size) + " bytes, too short for the 8-byte header length "
                    "(truncated or not a safetensors file)");
    const std::uint64_t header_size = read_le_u64(mapping->data());
    if (header_size > kMaxHeaderBytes)
        throw Error(ErrorKind::format, file,
                    "header length " + std::to_string(header_size) + " exceeds the " +
                        std::to_string(kMaxHeaderBytes) + "-byte limit (not a safetensors file?)");
    if (header_size > size - 8)
        throw Error(ErrorKind::format, file,
                    "header length " + std::to_string(header_size) + " runs past the end of the file (" +
                        std::to_string(size - 8) + " bytes follow the length field; truncated?)");
    if (header_size < 2) throw Error(ErrorKind::format, file, "header of " + std::to_string(header_size) + " bytes cannot hold a JSON object");

    const auto* header_begin = reinterpret_cast<const char*>(mapping->data() + 8);
    const auto* header_end = header_begin + header_size;

    // Duplicate names would make a tensor ambiguous; nlohmann keeps the last silently, so watch the keys.
    std::set<std::string> seen;
    std::string duplicate;
    json::parser_callback_t watch_keys = [&](int depth, json::parse_event_t event, json& parsed) {
        if (event == json::parse_event_t::key && depth == 1 && !seen.insert(parsed.get<std::string>()).second)
            duplicate = parsed.get<std::string>();
        return true;
    };
    json header;
    try {
        header = json::parse(header_begin, header_end, watch_keys);
    } catch (const json::exception& e) {
        throw Error(ErrorKind::format, file, std::string("header is not valid JSON: ") + e.what());
    }
    if (!header.is_object()) throw Error(ErrorKind::format, file, "header is JSON but not an object");
    if (!duplicate.empty()) throw Error(ErrorKind::format, file, duplicate, "named twice in the header");

    SafetensorsFile result;
    result.path_ = path;
    result.file_size_ = size;
    result.header_size_ = header_size;
    result.data_area_ = mapping->data() + 8 + header_size;
    const std::uint64_t data_size = size - 8 - header_size;

    for (const auto& [name, entry] : header.items()) {
        if (name == "__metadata__") {
            if (!entry.is_object()) throw Error(ErrorKind::format, file, "'__metadata__' is not a JSON object");
            for (const auto& [key, value] : entry.items()) {
                if (!value.is_string())
                    throw Error(ErrorKind::format, file, "'__metadata__' value of '" + key + "' is not a string");
                result.metadata_[key] = value.get<std::string>();
            }
            continue;
        }
        auto info = parse_entry(file, name, entry);
        if (info.end > data_size)
            throw Error(ErrorKind::format, file, name,
                        "data_offsets " + range_text(info.begin, info.end) + " end past the data area of " +
                            std::to_string(data_size) + " bytes (file truncated?)");
        result.tensors_.push_back(std::move(info));
    }

    // The data area must be covered exactly once: every byte belongs to one tensor, in order.
    std::sort(result.tensors_.begin(), result.tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    std::uint64_t covered = 0;
    const TensorInfo* previous = nullptr;
    for (const auto& info : result.tensors_) {
        if (info.begin < covered)
            throw Error(ErrorKind::format, file, info.name,
                        "bytes " + range_text(info.begin, info.end) + " overlap tensor '" + previous->name + "' " +
                            range_text(previous->begin, previous->end));
        if (info.begin > covered)
            throw Error(ErrorKind::format, file, info.name,
                        "starts at byte " + std::to_string(info.begin) + " but the previous tensor ends at " +
                            std::to_string(covered) + ": " + std::to_string(info.begin - covered) +
                            " bytes belong to no tensor");
        covered = info.end;
        previous = &info;
    }
    if (covered != data_size)
        throw Error(ErrorKind::format, file,
                    std::to_string(data_size - covered) + " bytes after the last tensor are not described by the header");

    for (std::size_t i = 0; i < result.tensors_.size(); ++i) result.index_.emplace(result.tensors_[i].name, i);
    result.mapping_ = std::move(mapping);
    return result;
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

bool SafetensorsFile::contains(std::string_view name) const { return find(name) != nullptr; }

const TensorInfo& SafetensorsFile::info(std::string_view name) const {
    if (const auto* info = find(name)) return *info;
    throw Error(ErrorKind::shape, path_.string(), std::string(name), "not in this file");
}

TensorView SafetensorsFile::view(std::string_view name) const {
    const auto& i = info(name);
    return TensorView{&i, data_area_ + i.begin, mapping_, path_};
}

// ---------------------------------------------------------------------------------------------------------------
// Checkpoint: one file or an index of shards

namespace {

std::filesystem::path pick_weights_in_folder(const std::filesystem::path& folder) {
    if (std::filesystem::exists(folder / "model.safetensors.index.json")) return folder / "model.safetensors.index.json";
    if (std::filesystem::exists(folder / "model.safetensors")) return folder / "model.safetensors";
    std::vector<std::filesystem::path> found;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(folder, ec))
        if (entry.path().extension() == ".safetensors") found.push_back(entry.path());
    if (ec) throw Error(ErrorKind::io, folder.string(), "cannot list the folder: " + ec.message());
    if (found.size() == 1) return found.front();
    if (found.empty())
        throw Error(ErrorKind::io, folder.string(),
                    "no weights: expected model.safetensors or model.safetensors.index.json (.bin/.pt pickles are "
                    "never loaded; convert them to safetensors)");
    throw Error(ErrorKind::io, folder.string(),
                std::to_string(found.size()) + " .safetensors files but no model.safetensors.index.json to say "
                "which tensor lives where");
}

}  // namespace

Checkpoint Checkpoint::open(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw Error(ErrorKind::io, path.string(), "does not exist");
    const auto target = std::filesystem::is_directory(path, ec) ? pick_weights_in_folder(path) : path;
    if (target.filename().string().ends_with(".index.json")) return open_index(target);
    Checkpoint checkpoint;
    checkpoint.files_.push_back(SafetensorsFile::open(target));
    for (const auto& info : checkpoint.files_.front().tensors()) checkpoint.where_.emplace(info.name, 0);
    return checkpoint;
}

Checkpoint Checkpoint::open_index(const std::filesystem::path& index_path) {
    const std::string file = index_path.string();
    const json index = config::read_json_file(index_path);
    if (!index.is_object() || !index.contains("weight_map") || !index.at("weight_map").is_object())
        throw Error(ErrorKind::format, file, "has no 'weight_map' object");

    // Shard names come from a downloaded file: accept plain file names only, so that an index can never point
    // outside its folder ("../../etc/...", absolute paths).
    std::map<std::string, std::string> shard_of;  // tensor -> shard file name
    std::map<std::string, std::size_t> shard_slot;
    for (const auto& [name, shard] : index.at("weight_map").items()) {
        if (!shard.is_string()) throw Error(ErrorKind::format, file, name, "shard name is not a string");
        const auto shard_name = shard.get<std::string>();
        if (shard_name.empty() || shard_name.find('/') != std::string::npos ||
            shard_name.find('\\') != std::string::npos || shard_name == "." || shard_name == "..")
            throw Error(ErrorKind::format, file, name,
                        "shard '" + shard_name + "' is not a plain file name inside the model folder");
        shard_of[name] = shard_name;
        shard_slot.emplace(shard_name, shard_slot.size());
    }
    if (shard_of.empty()) throw Error(ErrorKind::format, file, "'weight_map' lists no tensors");

    Checkpoint checkpoint;
    std::vector<std::string> slot_names(shard_slot.size());
    for (const auto& [name, slot] : shard_slot) slot_names[slot] = name;
    for (const auto& shard_name : slot_names) {
        const auto shard_path = index_path.parent_path() / shard_name;
        if (!std::filesystem::exists(shard_path))
            throw Error(ErrorKind::io, shard_path.string(), "shard listed in " + index_path.filename().string() + " is missing");
        checkpoint.files_.push_back(SafetensorsFile::open(shard_path));
    }
    for (const auto& [name, shard_name] : shard_of) {
        const auto slot = shard_slot.at(shard_name);
        if (!checkpoint.files_[slot].contains(name))
            throw Error(ErrorKind::shape, checkpoint.files_[slot].path().string(), name,
                        "listed in " + index_path.filename().string() + " for this shard but not in it");
        checkpoint.where_.emplace(name, slot);
    }
    // A tensor the index does not list is one nobody would load: refuse rather than guess.
    for (const auto& shard : checkpoint.files_)
        for (const auto& info : shard.tensors())
            if (!shard_of.contains(info.name))
                throw Error(ErrorKind::shape, shard.path().string(), info.name,
                            "in the shard but not listed in " + index_path.filename().string());

    if (index.contains("metadata") && index.at("metadata").is_object() &&
        index.at("metadata").contains("total_size") && index.at("metadata").at("total_size").is_number_unsigned()) {
        const auto declared = index.at("metadata").at("total_size").get<std::uint64_t>();
        if (declared != checkpoint.total_tensor_bytes())
            checkpoint.warnings_.push_back(file + ": metadata.total_size is " + std::to_string(declared) +
                                           " but the shards hold " + std::to_string(checkpoint.total_tensor_bytes()) +
                                           " tensor bytes");
    }
    return checkpoint;
}

std::vector<std::string> Checkpoint::names() const {
    std::vector<std::string> names;
    names.reserve(where_.size());
    for (const auto& [name, slot] : where_) names.push_back(name);
    return names;
}

bool Checkpoint::contains(std::string_view name) const { return where_.find(name) != where_.end(); }

const SafetensorsFile& Checkpoint::file_of(std::string_view name) const {
    const auto it = where_.find(name);
    if (it == where_.end())
        throw Error(ErrorKind::shape, files_.empty() ? "" : files_.front().path().parent_path().string(),
                    std::string(name), "not in the checkpoint");
    return files_[it->second];
}

const TensorInfo& Checkpoint::info(std::string_view name) const { return file_of(name).info(name); }
TensorView Checkpoint::view(std::string_view name) const { return file_of(name).view(name); }

void SafetensorsFile::drop_resident_pages() const {
    if (mapping_) std::static_pointer_cast<const io::MappedFile>(mapping_)->drop_resident_pages();
}

void Checkpoint::drop_resident_pages() const {
    for (const auto& file : files_) file.drop_resident_pages();
}

std::uint64_t Checkpoint::total_tensor_bytes() const {
    std::uint64_t total = 0;
    for (const auto& shard : files_)
        for (const auto& info : shard.tensors()) total += info.nbytes();
    return total;
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    json header = json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::uint64_t offset = 0;
    std::set<std::string> names;
    for (const auto& t : tensors) {
        const auto expected = static_cast<std::uint64_t>(shape_numel(t.shape)) * dtype_size(t.dtype);
        if (t.bytes.size() != expected)
            throw Error(ErrorKind::internal, path.string(), t.name,
                        "shape " + shape_to_string(t.shape) + " x " + std::string(dtype_name(t.dtype)) + " needs " +
                            std::to_string(expected) + " bytes, " + std::to_string(t.bytes.size()) + " given");
        if (!names.insert(t.name).second) throw Error(ErrorKind::internal, path.string(), t.name, "written twice");
        header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + expected}}};
        offset += expected;
    }
    std::string text = header.dump();
    // Padding keeps the data area 8-byte aligned, so that readers can view tensors without copying.
    text.append((8 - text.size() % 8) % 8, ' ');

    auto temporary = path;
    temporary += ".partial";
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        if (!out) throw Error(ErrorKind::io, temporary.string(), "cannot create");
        std::array<char, 8> length{};
        for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
        out.write(length.data(), 8);
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
        for (const auto& t : tensors)
            out.write(reinterpret_cast<const char*>(t.bytes.data()), static_cast<std::streamsize>(t.bytes.size()));
        out.flush();
        if (!out) {
            out.close();
            std::error_code ignored;
            std::filesystem::remove(temporary, ignored);  // never leave half a file behind
            throw Error(ErrorKind::io, temporary.string(), "write failed (disk full?)");
        }
    }
    std::error_code ec;
    std::filesystem::rename(temporary, path, ec);
    if (ec) {
        std::error_code ignored;
        std::filesystem::remove(temporary, ignored);
        throw Error(ErrorKind::io, path.string(), "cannot move the written file into place: " + ec.message());
    }
}

}  // namespace deepstack

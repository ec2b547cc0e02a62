// The GGUF layout: "GGUF", version, tensor count, metadata count; the metadata (key, type, value); the tensor
// directory (name, dimensions innermost first, type, offset); padding to the alignment; the tensor data.
#include "deepstack/gguf.h"

#include <cstring>
#include <limits>
#include <unordered_set>

#include "deepstack/error.h"
#include "io/mapped_file.h"

namespace deepstack {

namespace {

struct GgmlType {
    std::uint32_t id;
    const char* name;
    std::uint64_t block_size, block_bytes;
};
// GGML's types with their block sizes (gguf.constants.GGML_QUANT_SIZES): every type a file may hold is sized and
// checked against the file, whether or not this version computes with it.
constexpr GgmlType kTypes[] = {
    {0, "F32", 1, 4},         {1, "F16", 1, 2},          {2, "Q4_0", 32, 18},     {3, "Q4_1", 32, 20},
    {6, "Q5_0", 32, 22},      {7, "Q5_1", 32, 24},       {8, "Q8_0", 32, 34},     {9, "Q8_1", 32, 40},
    {10, "Q2_K", 256, 84},    {11, "Q3_K", 256, 110},    {12, "Q4_K", 256, 144},  {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210},   {15, "Q8_K", 256, 292},    {16, "IQ2_XXS", 256, 66}, {17, "IQ2_XS", 256, 74},
    {18, "IQ3_XXS", 256, 98}, {19, "IQ1_S", 256, 50},    {20, "IQ4_NL", 32, 18},  {21, "IQ3_S", 256, 110},
    {22, "IQ2_S", 256, 82},   {23, "IQ4_XS", 256, 136},  {24, "I8", 1, 1},        {25, "I16", 1, 2},
    {26, "I32", 1, 4},        {27, "I64", 1, 8},         {28, "F64", 1, 8},       {29, "IQ1_M", 256, 56},
    {30, "BF16", 1, 2},       {34, "TQ1_0", 256, 54},    {35, "TQ2_0", 256, 66},  {39, "MXFP4", 32, 17},
};

const GgmlType* type_of(std::uint32_t id) {
    for (const auto& t : kTypes)
        if (t.id == id) return &t;
    return nullptr;
}

enum ValueType : std::uint32_t { kU8, kI8, kU16, kI16, kU32, kI32, kF32, kBool, kString, kArray, kU64, kI64, kF64 };

// A cursor over the mapped bytes that refuses to read past the end.
class Reader {
public:
    Reader(const std::uint8_t* data, std::uint64_t size, std::string file) : data_(data), size_(size), file_(std::move(file)) {}

    [[noreturn]] void fail(const std::string& what) const {
        throw Error(ErrorKind::format, file_, "not a readable GGUF file: " + what + " (at byte " + std::to_string(at_) + ")");
    }
    std::uint64_t position() const { return at_; }
    std::uint64_t remaining() const { return size_ - at_; }

    template <typename T>
    T scalar() {
        if (remaining() < sizeof(T)) fail("the file ends inside a value");
        T value;
        std::memcpy(&value, data_ + at_, sizeof(T));
        at_ += sizeof(T);
        return value;
    }
    std::string text() {
        const auto length = scalar<std::uint64_t>();
        if (length > remaining()) fail("a string of " + std::to_string(length) + " bytes runs past the end of the file");
        std::string s(reinterpret_cast<const char*>(data_ + at_), static_cast<std::size_t>(length));
        at_ += length;
        return s;
    }

    nlohmann::ordered_json value(std::uint32_t type, int depth = 0) {
        switch (type) {
            case kU8: return scalar<std::uint8_t>();
            case kI8: return scalar<std::int8_t>();
            case kU16: return scalar<std::uint16_t>();
            case kI16: return scalar<std::int16_t>();
            case kU32: return scalar<std::uint32_t>();
            case kI32: return scalar<std::int32_t>();
            case kF32: return scalar<float>();
            case kBool: {
                const auto b = scalar<std::uint8_t>();
                if (b > 1) fail("a boolean of value " + std::to_string(b));
                return b == 1;
            }
            case kString: return text();
            case kU64: return scalar<std::uint64_t>();
            case kI64: return scalar<std::int64_t>();
            case kF64: return scalar<double>();
            case kArray: {
                if (depth > 0) fail("an array inside an array");
                const auto element = scalar<std::uint32_t>();
                const auto count = scalar<std::uint64_t>();
                // Every element takes at least one byte: a count beyond the bytes left is a lie.
                if (count > remaining()) fail("an array of " + std::to_string(count) + " elements in " + std::to_string(remaining()) + " bytes");
                auto array = nlohmann::ordered_json::array();
                for (std::uint64_t i = 0; i < count; ++i) array.push_back(value(element, depth + 1));
                return array;
            }
            default: fail("a value of unknown type " + std::to_string(type));
        }
    }

private:
    const std::uint8_t* data_;
    std::uint64_t size_;
    std::uint64_t at_ = 0;
    std::string file_;
};

// a * b, or nullopt when it overflows 64 bits.
std::optional<std::uint64_t> times(std::uint64_t a, std::uint64_t b) {
    if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return std::nullopt;
    return a * b;
}

}  // namespace

std::optional<std::string> ggml_type_name(std::uint32_t type) {
    const auto* t = type_of(type);
    return t ? std::optional<std::string>(t->name) : std::nullopt;
}

GgufFile GgufFile::open(const std::filesystem::path& path) {
    GgufFile f;
    f.path_ = path;
    f.file_ = io::MappedFile::open(path);
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(f.file_->data());
    Reader r(bytes, f.file_->size(), path.string());
    if (r.remaining() < 4 || std::memcmp(bytes, "GGUF", 4) != 0) r.fail("it does not start with \"GGUF\"");
    (void)r.scalar<std::uint32_t>();
    f.version_ = r.scalar<std::uint32_t>();
    if (f.version_ != 2 && f.version_ != 3) r.fail("version " + std::to_string(f.version_) + " (this version reads 2 and 3)");
    const auto tensor_count = r.scalar<std::uint64_t>();
    const auto key_count = r.scalar<std::uint64_t>();
    // A key takes at least 12 bytes and a tensor entry at least 24: counts the file cannot hold are refused here.
    if (key_count > r.remaining() / 12) r.fail(std::to_string(key_count) + " metadata keys cannot fit the file");
    if (tensor_count > r.remaining() / 24) r.fail(std::to_string(tensor_count) + " tensors cannot fit the file");

    f.metadata_ = nlohmann::ordered_json::object();
    for (std::uint64_t k = 0; k < key_count; ++k) {
        auto key = r.text();
        if (f.metadata_.contains(key)) r.fail("the key '" + key + "' appears twice");
        const auto type = r.scalar<std::uint32_t>();
        f.metadata_[key] = r.value(type);
    }
    if (f.metadata_.contains("general.alignment")) {
        const auto& a = f.metadata_["general.alignment"];
        if (!a.is_number_unsigned() || a.get<std::uint64_t>() == 0 || (a.get<std::uint64_t>() & (a.get<std::uint64_t>() - 1)) != 0 ||
            a.get<std::uint64_t>() > 65536)
            r.fail("general.alignment is " + a.dump() + ", not a power of two up to 65536");
        f.alignment_ = a.get<std::uint64_t>();
    }

    std::unordered_set<std::string> names;
    struct Pending {
        GgufTensor tensor;
        std::uint64_t relative = 0;
    };
    std::vector<Pending> pending;
    pending.reserve(static_cast<std::size_t>(tensor_count));
    for (std::uint64_t i = 0; i < tensor_count; ++i) {
        Pending p;
        p.tensor.name = r.text();
        if (!names.insert(p.tensor.name).second) r.fail("the tensor '" + p.tensor.name + "' appears twice");
        const auto dims = r.scalar<std::uint32_t>();
        if (dims == 0 || dims > 4) r.fail("tensor '" + p.tensor.name + "' has " + std::to_string(dims) + " dimensions (1 to 4 are allowed)");
        std::vector<std::uint64_t> ne(dims);
        std::uint64_t elements = 1;
        for (auto& n : ne) {
            n = r.scalar<std::uint64_t>();
            const auto product = times(elements, n);
            if (n == 0 || !product || *product > (std::uint64_t{1} << 50)) r.fail("tensor '" + p.tensor.name + "' has impossible dimensions");
            elements = *product;
        }
        p.tensor.ggml_type = r.scalar<std::uint32_t>();
        const auto* type = type_of(p.tensor.ggml_type);
        if (type == nullptr) r.fail("tensor '" + p.tensor.name + "' has unknown type " + std::to_string(p.tensor.ggml_type));
        p.tensor.type_name = type->name;
        if (ne[0] % type->block_size != 0)
            r.fail("tensor '" + p.tensor.name + "' rows of " + std::to_string(ne[0]) + " are not whole " + type->name + " blocks of " +
                   std::to_string(type->block_size));
        p.tensor.bytes = elements / type->block_size * type->block_bytes;
        p.relative = r.scalar<std::uint64_t>();
        if (p.relative % f.alignment_ != 0) r.fail("tensor '" + p.tensor.name + "' is not aligned to " + std::to_string(f.alignment_) + " bytes");
        for (auto it = ne.rbegin(); it != ne.rend(); ++it) p.tensor.shape.push_back(static_cast<std::int64_t>(*it));
        pending.push_back(std::move(p));
    }
    const auto data_start = (r.position() + f.alignment_ - 1) / f.alignment_ * f.alignment_;
    const auto size = f.file_->size();
    for (auto& p : pending) {
        if (data_start > size || p.relative > size - data_start || p.tensor.bytes > size - data_start - p.relative)
            throw Error(ErrorKind::format, path.string(), p.tensor.name,
                        "the tensor's " + std::to_string(p.tensor.bytes) + " bytes run past the end of the file (truncated download?)");
        p.tensor.offset = data_start + p.relative;
        f.tensors_.push_back(std::move(p.tensor));
    }
    return f;
}

std::string GgufFile::string(const std::string& key) const {
    if (!metadata_.contains(key) || !metadata_[key].is_string())
        throw Error(ErrorKind::format, path_.string(), "the metadata has no string '" + key + "'");
    return metadata_[key].get<std::string>();
}

std::int64_t GgufFile::integer(const std::string& key) const {
    if (!metadata_.contains(key) || !metadata_[key].is_number_integer())
        throw Error(ErrorKind::format, path_.string(), "the metadata has no integer '" + key + "'");
    return metadata_[key].get<std::int64_t>();
}

double GgufFile::number(const std::string& key) const {
    if (!metadata_.contains(key) || !metadata_[key].is_number())
        throw Error(ErrorKind::format, path_.string(), "the metadata has no number '" + key + "'");
    return metadata_[key].get<double>();
}

const GgufTensor* GgufFile::find(const std::string& name) const {
    for (const auto& t : tensors_)
        if (t.name == name) return &t;
    return nullptr;
}

std::span<const std::uint8_t> GgufFile::data(const GgufTensor& tensor) const {
    return {reinterpret_cast<const std::uint8_t*>(file_->data()) + tensor.offset, static_cast<std::size_t>(tensor.bytes)};
}

void GgufFile::drop_resident_pages() const {
    if (file_) file_->drop_resident_pages();
}

}  // namespace deepstack

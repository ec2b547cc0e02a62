#include "nn/weights.h"

#include <torch/cuda.h>
#include <torch/cuda.h>
#include <torch/types.h>

#include "deepstack/error.h"
#include "models/gguf_model.h"
#include "tensor/torch_bridge.h"

namespace deepstack::nn {

WeightStore::WeightStore(const Checkpoint& checkpoint, const std::vector<models::TensorSpec>& specs,
                         c10::ScalarType dtype, c10::Device device, Progress progress)
    : checkpoint_(checkpoint), dtype_(dtype), device_(device), progress_(std::move(progress)) {
    for (const auto& spec : specs) {
        declared_.emplace(spec.name, spec.shape);
        if (!checkpoint.contains(spec.name)) {
            if (spec.optional) continue;
            throw Error(ErrorKind::shape, checkpoint.files().front().path().parent_path().string(), spec.name,
                        "missing from the checkpoint (expected shape " + shape_to_string(spec.shape) + ")");
        }
        const auto& info = checkpoint.info(spec.name);
        total_bytes_ += info.nbytes();
        if (info.shape != spec.shape)
            throw Error(ErrorKind::shape, checkpoint.file_of(spec.name).path().string(), spec.name,
                        "expected shape " + shape_to_string(spec.shape) + ", found " + shape_to_string(info.shape));
        if (!dtype_is_floating(info.dtype))
            throw Error(ErrorKind::shape, checkpoint.file_of(spec.name).path().string(), spec.name,
                        "stored as " + std::string(dtype_name(info.dtype)) + ", expected a floating-point type");
    }
    for (const auto& name : checkpoint.names())
        if (!declared_.contains(name))
            throw Error(ErrorKind::shape, checkpoint.file_of(name).path().string(), name,
                        "unused: no such tensor in this model (shape " + shape_to_string(checkpoint.info(name).shape) + ")");
}

torch::Tensor WeightStore::get(const std::string& name) const {
    if (!declared_.contains(name)) throw Error(ErrorKind::internal, "", name, "asked for a tensor the family never declared");
    auto tensor = tensor::to_torch(checkpoint_.view(name), dtype_, device_);
    if (progress_) {
        done_bytes_ += checkpoint_.info(name).nbytes();
        progress_(done_bytes_, total_bytes_);
    }
    return tensor;
}

models::Declare<torch::Tensor> binder(TensorSource source, std::vector<std::pair<std::string, torch::Tensor>>* named) {
    return [source = std::move(source), named](torch::Tensor* slot, const std::string& name, const Shape&, const char*, bool optional) {
        if (slot == nullptr) return;  // declared so that the checkpoint may hold it; nothing reads it
        auto tensor = source(name, optional);
        if (!tensor) return;
        *slot = *tensor;
        if (named != nullptr) named->emplace_back(name, *tensor);
    };
}

std::optional<quant::Format> format_for_columns(quant::Format wanted, std::int64_t columns) {
    if (columns % quant::traits(wanted).block_size == 0) return wanted;
    if (columns % quant::traits(quant::Format::q8_0).block_size == 0) return quant::Format::q8_0;
    return std::nullopt;
}

models::Declare<Matrix> matrix_binder(TensorSource source, std::optional<quant::Format> format,
                                      std::vector<std::pair<std::string, torch::Tensor>>* named, BlockSource blocks) {
    return [source = std::move(source), format, named, blocks = std::move(blocks)](Matrix* slot, const std::string& name, const Shape&,
                                                                                    const char*, bool optional) {
        if (slot == nullptr) return;
        if (blocks) {
            if (auto stored = blocks(name)) {
                *slot = std::move(*stored);
                return;
            }
        }
        auto tensor = source(name, optional);
        if (!tensor) return;
        if (const auto fits = format ? format_for_columns(*format, tensor->size(-1)) : std::nullopt) {
            if (!tensor->device().is_cpu())
                throw Error(ErrorKind::unsupported, "", name, "quantized weights run on the CPU only in this version");
            *slot = Matrix::quantized(*tensor, *fits);
            return;
        }
        *slot = Matrix(*tensor);
        if (named != nullptr) named->emplace_back(name, *tensor);
    };
}

namespace {

// A GGUF tensor's values as a float tensor of its (checkpoint) shape: the file's bytes viewed where the type is
// one LibTorch has, dequantized where it is a block format.
torch::Tensor gguf_values(const models::GgufCheckpoint::Entry& entry, const std::shared_ptr<const models::GgufCheckpoint>& files) {
    std::vector<torch::Tensor> parts;
    for (const auto* part : entry.parts) {
        const auto bytes = entry.file->data(*part);
        const auto format = quant::format_from_ggml_type(part->ggml_type);
        if (!format)
            throw Error(ErrorKind::unsupported, entry.file->path().string(), part->name,
                        "is stored as " + part->type_name + ", a type this version cannot read");
        auto* data = const_cast<std::uint8_t*>(bytes.data());  // NOLINT: read-only views of the mapping, never written
        const auto keep = [files](void*) {};
        switch (*format) {
            case quant::Format::f32: parts.push_back(torch::from_blob(data, part->shape, keep, torch::kFloat32)); break;
            case quant::Format::f16: parts.push_back(torch::from_blob(data, part->shape, keep, torch::kFloat16)); break;
            case quant::Format::bf16: parts.push_back(torch::from_blob(data, part->shape, keep, torch::kBFloat16)); break;
            default: {
                const auto values = quant::dequantize(*format, bytes, shape_numel(part->shape));
                parts.push_back(torch::tensor(values).reshape(part->shape));
            }
        }
    }
    return parts.size() == 1 ? parts.front() : torch::stack(parts, entry.stack_dim);
}

CheckedCheckpoint open_gguf_checkpoint(const std::filesystem::path& folder, const std::vector<models::TensorSpec>& specs,
                                       const LoadOptions& options) {
    models::ArchitectureDescription declared;
    declared.tensors = specs;
    auto checkpoint = std::make_shared<const models::GgufCheckpoint>(models::GgufCheckpoint::open(folder, declared));
    std::uint64_t total = 0;
    for (const auto& e : checkpoint->entries()) total += e.bytes;
    auto done = std::make_shared<std::uint64_t>(0);
    const auto progress = [options, done, total](std::uint64_t bytes) {
        *done += bytes;
        if (options.progress) options.progress(*done, total);
    };
    CheckedCheckpoint opened;
    opened.files = checkpoint;
    opened.drop_resident_pages = [checkpoint] { checkpoint->drop_resident_pages(); };
    opened.tensors = [checkpoint, options, progress](const std::string& name, bool optional) -> std::optional<torch::Tensor> {
        const auto* entry = checkpoint->find(name);
        if (entry == nullptr) {
            if (optional) return std::nullopt;
            throw Error(ErrorKind::internal, checkpoint->text().path().string(), name, "asked for a tensor the family never declared");
        }
        auto tensor = gguf_values(*entry, checkpoint).to(options.device, options.dtype);
        progress(entry->bytes);
        return tensor;
    };
    opened.blocks = [checkpoint, options, progress](const std::string& name) -> std::optional<Matrix> {
        const auto* entry = checkpoint->find(name);
        if (entry == nullptr || entry->parts.size() != 1 || !options.device.is_cpu()) return std::nullopt;
        const auto* part = entry->parts.front();
        const auto format = quant::format_from_ggml_type(part->ggml_type);
        if (!format || *format == quant::Format::f32 || *format == quant::Format::f16 || *format == quant::Format::bf16) return std::nullopt;
        const auto rows = part->shape.front(), columns = part->shape.back();
        const auto bytes = entry->file->data(*part);
        auto* data = const_cast<std::uint8_t*>(bytes.data());  // NOLINT: read-only view of the mapping
        auto blocks = torch::from_blob(data, {rows, static_cast<std::int64_t>(quant::row_bytes(*format, columns))},
                                       [checkpoint](void*) {}, torch::kUInt8);
        progress(entry->bytes);
        return Matrix::from_blocks(blocks, *format, columns);
    };
    return opened;
}

}  // namespace

CheckedCheckpoint open_checkpoint(const std::filesystem::path& folder, const std::vector<models::TensorSpec>& specs,
                                  const LoadOptions& options) {
    if (models::gguf_files_of(folder)) return open_gguf_checkpoint(folder, specs, options);
    auto checkpoint = std::make_shared<const Checkpoint>(Checkpoint::open(folder));
    auto store = std::make_shared<WeightStore>(*checkpoint, specs, options.dtype, options.device, options.progress);
    CheckedCheckpoint opened;
    opened.tensors = store->source();
    opened.drop_resident_pages = [checkpoint] { checkpoint->drop_resident_pages(); };
    opened.files = std::make_shared<std::pair<std::shared_ptr<const Checkpoint>, std::shared_ptr<WeightStore>>>(checkpoint, store);
    return opened;
}

TensorSource WeightStore::source() const {
    return [this](const std::string& name, bool optional) -> std::optional<torch::Tensor> {
        if (optional && !has(name)) return std::nullopt;
        return get(name);
    };
}

TensorSource RandomWeights::source() {
    return [this](const std::string& name, bool optional) -> std::optional<torch::Tensor> {
        if (optional) return std::nullopt;
        return get(name);
    };
}

RandomWeights::RandomWeights(const std::vector<models::TensorSpec>& specs, c10::ScalarType dtype, c10::Device device,
                             std::uint64_t seed)
    : dtype_(dtype), device_(device), generator_(at::detail::createCPUGenerator(seed)) {
    for (const auto& spec : specs) declared_.emplace(spec.name, spec.shape);
    if (device_.is_cuda()) torch::cuda::manual_seed(seed);
}

torch::Tensor RandomWeights::get(const std::string& name) {
    const auto found = declared_.find(name);
    if (found == declared_.end()) throw Error(ErrorKind::internal, "", name, "asked for a tensor the family never declared");
    // On a GPU the values are drawn there: one CPU generator takes minutes for an 8B model's 8 G values.
    auto values = device_.is_cuda() ? torch::randn(found->second, torch::TensorOptions().dtype(torch::kFloat32).device(device_)) * 0.02
                                    : torch::randn(found->second, generator_, torch::TensorOptions().dtype(torch::kFloat32)) * 0.02;
    if (name.find("norm") != std::string::npos) values = values + 1.0;
    return values.to(device_, dtype_);
}

}  // namespace deepstack::nn

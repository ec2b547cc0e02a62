// Loads a checkpoint's tensors by name against the shapes a family declares: a missing, misshapen or unused
// tensor is an Error naming the file, the tensor, the expected and the found shape. Internal (LibTorch).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <torch/types.h>

#include "deepstack/error.h"
#include "deepstack/safetensors.h"
#include "models/architecture.h"
#include "models/weight_declaration.h"
#include "nn/matrix.h"

namespace deepstack::nn {

// Where a family's declared tensors come from: the tensor called `name`, or nullopt for an optional tensor the
// source does not hold.
using TensorSource = std::function<std::optional<torch::Tensor>(const std::string& name, bool optional)>;
// A matrix the source stores in a block format (a quantized GGUF file), as its blocks; nullopt for one stored
// dense. Matrices so stored are used as they are, not quantized again.
using BlockSource = std::function<std::optional<Matrix>(const std::string& name)>;

// The loader's side of a family's declaration (models/weight_declaration.h): each declared tensor is taken from
// `source` into its field; `named`, when given, receives every bound tensor under its checkpoint name.
models::Declare<torch::Tensor> binder(TensorSource source, std::vector<std::pair<std::string, torch::Tensor>>* named = nullptr);

// The format a matrix of `columns` is quantized to when `wanted` is asked for: `wanted` where its blocks fill a
// row, else Q8_0 (blocks of 32), else nullopt (kept dense): llama.cpp too falls back where K-quants do not fit.
std::optional<quant::Format> format_for_columns(quant::Format wanted, std::int64_t columns);

// The language model's matrices bound as nn::Matrix: quantized as they are read (format_for_columns of `format`;
// the CPU only), or kept dense.
models::Declare<Matrix> matrix_binder(TensorSource source, std::optional<quant::Format> format,
                                      std::vector<std::pair<std::string, torch::Tensor>>* named = nullptr,
                                      BlockSource blocks = {});

// How a family's Model::load and Model::random place the weights.
struct LoadOptions {
    using Progress = std::function<void(std::uint64_t done_bytes, std::uint64_t total_bytes)>;
    LoadOptions(c10::ScalarType dtype_ = c10::kBFloat16, c10::Device device_ = c10::Device(c10::kCPU), Progress progress_ = {},
                std::optional<quant::Format> matrices_ = std::nullopt)
        : dtype(dtype_), device(device_), progress(std::move(progress_)), matrices(matrices_) {}

    c10::ScalarType dtype;
    c10::Device device;
    Progress progress;                      // while weights are read
    std::optional<quant::Format> matrices;  // quantize the language model's matrices to this as they are read
};

class WeightStore {
public:
    // Validates the whole checkpoint against `specs` before anything is converted.
    // `progress` (optional) hears the bytes converted so far out of all the declared tensors' bytes.
    using Progress = std::function<void(std::uint64_t done_bytes, std::uint64_t total_bytes)>;
    WeightStore(const Checkpoint& checkpoint, const std::vector<models::TensorSpec>& specs, c10::ScalarType dtype,
                c10::Device device, Progress progress = {});

    // The tensor in the store's dtype and on its device: a view of the file when nothing changes.
    torch::Tensor get(const std::string& name) const;
    bool has(const std::string& name) const { return checkpoint_.contains(name); }
    // get(), and nullopt for an optional tensor the checkpoint lacks.
    TensorSource source() const;

private:
    const Checkpoint& checkpoint_;
    std::unordered_map<std::string, Shape> declared_;
    c10::ScalarType dtype_;
    c10::Device device_;
    Progress progress_;
    std::uint64_t total_bytes_ = 0;
    mutable std::uint64_t done_bytes_ = 0;
};

// A model folder's checkpoint (safetensors, or the GGUF files a GGUF model folder names), checked against a
// family's declared tensors before anything is converted: the source a family's loader binds from. The tensors
// it gives may view the files' mappings, which they keep alive.
struct CheckedCheckpoint {
    std::shared_ptr<const void> files;
    TensorSource tensors;
    BlockSource blocks;  // set for GGUF files
    // Call once the weights are bound: the pages read while converting (an F16 mmproj made bf16, a bf16 file
    // quantized at load) leave the resident set instead of counting beside their copies; weights used in place
    // come back from the page cache as they are read.
    std::function<void()> drop_resident_pages;
};
CheckedCheckpoint open_checkpoint(const std::filesystem::path& folder, const std::vector<models::TensorSpec>& specs,
                                  const LoadOptions& options);

// Random weights of the declared shapes (benchmarks of models nobody downloaded): normal(0, 0.02), norm weights
// near one so that activations stay in a realistic range. Same seed and device, same weights.
class RandomWeights {
public:
    RandomWeights(const std::vector<models::TensorSpec>& specs, c10::ScalarType dtype, c10::Device device, std::uint64_t seed);
    torch::Tensor get(const std::string& name);
    // get() for every required tensor; optional ones (a tied lm_head) are left out, as a checkpoint would.
    TensorSource source();

private:
    std::unordered_map<std::string, Shape> declared_;
    c10::ScalarType dtype_;
    c10::Device device_;
    at::Generator generator_;
};

// The two ways to a family's Model, the same for every family: a folder's checkpoint checked against the tensors
// the config declares, or random weights of those shapes. The family's `Model::with_weights(config, options,
// tensors, blocks, files)` binds them (`files` keeps the mappings its weights may view alive); `describe` and
// `check_config` are the family's own, found next to its Config.
template <class Model, class Config>
std::unique_ptr<Model> bind_checkpoint(const std::filesystem::path& folder, const Config& config, const LoadOptions& options) {
    const auto opened = open_checkpoint(folder, describe(config).tensors, options);
    auto model = Model::with_weights(config, options, opened.tensors, opened.blocks, opened.files);
    opened.drop_resident_pages();
    return model;
}

template <class Model, class Config>
std::unique_ptr<Model> bind_random(const Config& config, const LoadOptions& options, std::uint64_t seed) {
    if (const auto problems = check_config(config); !problems.empty()) throw Error(ErrorKind::config, "", problems.front());
    RandomWeights weights(describe(config).tensors, options.dtype, options.device, seed);
    return Model::with_weights(config, options, weights.source(), {}, nullptr);
}

}  // namespace deepstack::nn

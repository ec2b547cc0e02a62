// Loads a checkpoint's tensors by name against the shapes a family declares: a missing, misshapen or unused
// tensor is an Error naming the file, the tensor, the expected and the found shape. Internal (LibTorch).
#pragma once

#include <functional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <torch/types.h>

#include "deepstack/safetensors.h"
#include "models/architecture.h"

namespace deepstack::nn {

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

private:
    const Checkpoint& checkpoint_;
    std::unordered_map<std::string, Shape> declared_;
    c10::ScalarType dtype_;
    c10::Device device_;
    Progress progress_;
    std::uint64_t total_bytes_ = 0;
    mutable std::uint64_t done_bytes_ = 0;
};

// Random weights of the declared shapes (benchmarks of models nobody downloaded): normal(0, 0.02), norm weights
// near one so that activations stay in a realistic range. Same seed and device, same weights.
class RandomWeights {
public:
    RandomWeights(const std::vector<models::TensorSpec>& specs, c10::ScalarType dtype, c10::Device device, std::uint64_t seed);
    torch::Tensor get(const std::string& name);

private:
    std::unordered_map<std::string, Shape> declared_;
    c10::ScalarType dtype_;
    c10::Device device_;
    at::Generator generator_;
};

}  // namespace deepstack::nn

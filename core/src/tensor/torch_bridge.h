// From safetensors views to LibTorch tensors. Internal to the core: LibTorch never appears in a public header.
#pragma once

#include <optional>

#include <torch/types.h>

#include "deepstack/safetensors.h"

namespace deepstack::tensor {

// The LibTorch scalar type for a safetensors dtype; Error(unsupported) when this LibTorch has none.
c10::ScalarType torch_dtype(DType dtype);

// A tensor over the view's bytes. It shares the mapping (no copy) when the asked dtype and device are the
// view's own and the data is aligned; otherwise it converts, which allocates. The mapping stays alive as long as
// the returned tensor does.
torch::Tensor to_torch(const TensorView& view, std::optional<c10::ScalarType> dtype = std::nullopt,
                       c10::Device device = c10::Device(c10::kCPU));

// True when `tensor` still points into the file mapping (used by tests and the memory report).
bool shares_memory_with(const torch::Tensor& tensor, const TensorView& view);

}  // namespace deepstack::tensor

#include "tensor/torch_bridge.h"

#include <cstdint>

#include <torch/types.h>
#include <torch/version.h>

#include "deepstack/error.h"

namespace deepstack::tensor {

c10::ScalarType torch_dtype(DType dtype) {
    switch (dtype) {
        case DType::boolean: return c10::kBool;
        case DType::u8: return c10::kByte;
        case DType::i8: return c10::kChar;
        case DType::i16: return c10::kShort;
        case DType::i32: return c10::kInt;
        case DType::i64: return c10::kLong;
        case DType::f16: return c10::kHalf;
        case DType::bf16: return c10::kBFloat16;
        case DType::f32: return c10::kFloat;
        case DType::f64: return c10::kDouble;
#if TORCH_VERSION_MAJOR >= 2 && (TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 1)
        case DType::f8_e4m3: return c10::ScalarType::Float8_e4m3fn;
        case DType::f8_e5m2: return c10::ScalarType::Float8_e5m2;
#else
        case DType::f8_e4m3:
        case DType::f8_e5m2:
#endif
        case DType::u16:
        case DType::u32:
        case DType::u64: break;
    }
    throw Error(ErrorKind::unsupported, "", std::string("dtype ") + std::string(dtype_name(dtype)) +
                                                " has no LibTorch " TORCH_VERSION " equivalent");
}

torch::Tensor to_torch(const TensorView& view, std::optional<c10::ScalarType> dtype, c10::Device device) {
    const auto stored = torch_dtype(view.dtype());
    const auto& shape = view.shape();
    const bool aligned = reinterpret_cast<std::uintptr_t>(view.data) % dtype_size(view.dtype()) == 0;
    torch::Tensor tensor;
    if (aligned) {
        // The deleter holds the mapping: the tensor may outlive the Checkpoint that handed out the view.
        auto keep_alive = view.keep_alive;
        tensor = torch::from_blob(const_cast<std::byte*>(view.data), c10::IntArrayRef(shape.data(), shape.size()),
                                  [keep_alive](void*) mutable { keep_alive.reset(); },
                                  torch::TensorOptions().dtype(stored));
    } else {
        // Unaligned data (a header length that is not a multiple of 8) cannot be viewed safely: copy it.
        tensor = torch::empty(c10::IntArrayRef(shape.data(), shape.size()), torch::TensorOptions().dtype(stored));
        std::memcpy(tensor.data_ptr(), view.data, view.nbytes());
    }
    const auto wanted = dtype.value_or(stored);
    if (wanted == stored && device.is_cpu()) return tensor;
    return tensor.to(device, wanted);
}

bool shares_memory_with(const torch::Tensor& tensor, const TensorView& view) {
    return tensor.data_ptr() == static_cast<const void*>(view.data);
}

}  // namespace deepstack::tensor

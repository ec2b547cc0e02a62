// A weight matrix [rows, columns] the model multiplies by: a dense tensor, or rows of GGUF blocks (Q8_0, Q4_0,
// Q4_K, Q6_K) multiplied by the integer kernels of quant/kernels.h. Quantized matrices live on the CPU.
// Internal (LibTorch in the signature).
#pragma once

#include <cstdint>
#include <optional>

#include <torch/types.h>

#include "quant/formats.h"

namespace deepstack::nn {

class Matrix {
public:
    Matrix() = default;
    Matrix(torch::Tensor dense);  // NOLINT(google-explicit-constructor): a dense matrix is the common case

    // `dense` [rows, columns] quantized row by row (on the CPU; the dense tensor is not kept).
    static Matrix quantized(const torch::Tensor& dense, quant::Format format);
    // Rows already in `format` (a GGUF file's bytes): uint8 [rows, row_bytes].
    static Matrix from_blocks(torch::Tensor blocks, quant::Format format, std::int64_t columns);

    bool defined() const { return dense_.defined() || blocks_.defined(); }
    bool is_quantized() const { return blocks_.defined(); }
    const torch::Tensor& dense() const;  // throws Error for a quantized matrix
    const torch::Tensor& blocks() const { return blocks_; }
    quant::Format format() const { return format_; }
    std::int64_t rows() const;
    std::int64_t columns() const;
    std::uint64_t bytes() const;

private:
    torch::Tensor dense_;
    torch::Tensor blocks_;  // uint8 [rows, row_bytes]
    quant::Format format_ = quant::Format::f32;
    std::int64_t columns_ = 0;
};

// x [.., columns] times the matrix's transpose: [.., rows], in x's dtype. With quantized rows, a few rows at a
// time (decode) meet the blocks in the integer kernels (x as 8-bit blocks); longer inputs (prefill) multiply
// tiles of dequantized rows, in x's dtype, with LibTorch's matmul.
torch::Tensor linear(const torch::Tensor& x, const Matrix& weight, const std::optional<torch::Tensor>& bias = std::nullopt);

// Rows `ids` [L] (int64) of the matrix as `dtype`: [L, columns]. The token embedding.
torch::Tensor embedding(const Matrix& table, const torch::Tensor& ids, c10::ScalarType dtype);

}  // namespace deepstack::nn

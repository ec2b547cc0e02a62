#include "nn/matrix.h"

#include <algorithm>

#include <ATen/Parallel.h>
#include <torch/types.h>

#include "deepstack/error.h"
#include "deepstack/safetensors.h"
#include "nn/blocks.h"
#include "quant/kernels.h"

namespace deepstack::nn {

namespace {
// Up to this many rows of input run through the integer kernels (each weight row read once for all of them);
// longer inputs are compute-bound and go to the BLAS with dequantized tiles.
constexpr std::int64_t kMatvecRows = 8;
// Rows dequantized at a time for the BLAS path: 256 rows of an 18 944-wide matrix are 19 MB of fp32.
constexpr std::int64_t kTileRows = 256;
}  // namespace

Matrix::Matrix(torch::Tensor dense) : dense_(std::move(dense)) {}

Matrix Matrix::quantized(const torch::Tensor& dense, quant::Format format) {
    if (dense.dim() != 2) throw Error(ErrorKind::internal, "", "only a 2-D matrix can be quantized, found " + shape_to_string(dense.sizes().vec()));
    const auto rows = dense.size(0), columns = dense.size(1);
    const auto row_bytes = static_cast<std::int64_t>(quant::row_bytes(format, columns));
    const auto values = dense.to(torch::kCPU, torch::kFloat32).contiguous();
    auto blocks = torch::empty({rows, row_bytes}, torch::kUInt8);
    const float* in = values.data_ptr<float>();
    std::uint8_t* out = blocks.data_ptr<std::uint8_t>();
    at::parallel_for(0, rows, 16, [&](std::int64_t begin, std::int64_t end) {
        for (auto r = begin; r < end; ++r)
            quant::quantize_row(format, {in + r * columns, static_cast<std::size_t>(columns)},
                                {out + r * row_bytes, static_cast<std::size_t>(row_bytes)});
    });
    return from_blocks(std::move(blocks), format, columns);
}

Matrix Matrix::from_blocks(torch::Tensor blocks, quant::Format format, std::int64_t columns) {
    const auto row_bytes = static_cast<std::int64_t>(quant::row_bytes(format, columns));
    if (blocks.dim() != 2 || blocks.size(1) != row_bytes || blocks.scalar_type() != torch::kUInt8 || !blocks.device().is_cpu() ||
        !blocks.is_contiguous())
        throw Error(ErrorKind::internal, "", std::string("quantized rows must be contiguous uint8 [rows, ") + std::to_string(row_bytes) +
                                                 "] on the CPU, found " + shape_to_string(blocks.sizes().vec()));
    Matrix m;
    m.blocks_ = std::move(blocks);
    m.format_ = format;
    m.columns_ = columns;
    return m;
}

const torch::Tensor& Matrix::dense() const {
    if (is_quantized()) throw Error(ErrorKind::internal, "", std::string("a ") + quant::traits(format_).name + " matrix has no dense tensor");
    return dense_;
}

std::int64_t Matrix::rows() const { return is_quantized() ? blocks_.size(0) : dense_.size(0); }
std::int64_t Matrix::columns() const { return is_quantized() ? columns_ : dense_.size(1); }
std::uint64_t Matrix::bytes() const {
    const auto& t = is_quantized() ? blocks_ : dense_;
    return t.defined() ? static_cast<std::uint64_t>(t.numel()) * t.element_size() : 0;
}

torch::Tensor linear(const torch::Tensor& x, const Matrix& weight, const std::optional<torch::Tensor>& bias) {
    if (!weight.is_quantized()) return nn::linear(x, weight.dense(), bias);
    const auto columns = weight.columns(), rows = weight.rows();
    if (x.size(-1) != columns)
        throw Error(ErrorKind::internal, "", "input of width " + std::to_string(x.size(-1)) + " for a matrix of " + std::to_string(columns) + " columns");
    auto leading = x.sizes().vec();
    leading.pop_back();
    const auto n = x.numel() / columns;
    auto y = torch::empty({n, rows}, torch::kFloat32);
    if (n <= kMatvecRows) {
        const auto inputs = x.reshape({-1, columns}).to(torch::kFloat32).contiguous();
        std::vector<quant::ActivationBlock> blocks(static_cast<std::size_t>(n * columns / 32));
        quant::quantize_activations({inputs.data_ptr<float>(), static_cast<std::size_t>(n * columns)}, blocks,
                                    quant::activation_group(weight.format()));
        const auto* w = weight.blocks().data_ptr<std::uint8_t>();
        float* out = y.data_ptr<float>();
        at::parallel_for(0, rows, 32, [&](std::int64_t begin, std::int64_t end) {
            quant::matvec(weight.format(), w, columns, begin, end, blocks.data(), n, out, rows);
        });
    } else {
        // The BLAS in the input's precision: bf16 tiles where the model computes in bf16 (oneDNN's fast path).
        const auto inputs = x.reshape({-1, columns}).contiguous();
        if (inputs.scalar_type() != torch::kFloat32) y = y.to(inputs.scalar_type());
        const auto row_bytes = weight.blocks().size(1);
        for (std::int64_t start = 0; start < rows; start += kTileRows) {
            const auto count = std::min(kTileRows, rows - start);
            auto tile = torch::empty({count, columns}, torch::kFloat32);
            const auto* w = weight.blocks().data_ptr<std::uint8_t>() + start * row_bytes;
            float* dense = tile.data_ptr<float>();
            at::parallel_for(0, count, 8, [&](std::int64_t begin, std::int64_t end) {
                for (auto r = begin; r < end; ++r)
                    quant::dequantize_row(weight.format(), {w + r * row_bytes, static_cast<std::size_t>(row_bytes)},
                                          {dense + r * columns, static_cast<std::size_t>(columns)});
            });
            y.narrow(1, start, count).copy_(torch::mm(inputs, tile.to(inputs.scalar_type()).t()));
        }
    }
    y = y.to(x.scalar_type());
    if (bias) y = y + bias->to(x.scalar_type());
    leading.push_back(rows);
    return y.view(leading);
}

torch::Tensor embedding(const Matrix& table, const torch::Tensor& ids, c10::ScalarType dtype) {
    if (!table.is_quantized()) return table.dense().index_select(0, ids).to(dtype);
    const auto columns = table.columns(), rows = table.rows();
    const auto row_bytes = table.blocks().size(1);
    const auto wanted = ids.to(torch::kCPU, torch::kLong).contiguous();
    auto out = torch::empty({wanted.size(0), columns}, torch::kFloat32);
    const auto* w = table.blocks().data_ptr<std::uint8_t>();
    for (std::int64_t i = 0; i < wanted.size(0); ++i) {
        const auto id = wanted.data_ptr<std::int64_t>()[i];
        if (id < 0 || id >= rows) throw Error(ErrorKind::internal, "", "row " + std::to_string(id) + " of a table of " + std::to_string(rows));
        quant::dequantize_row(table.format(), {w + id * row_bytes, static_cast<std::size_t>(row_bytes)},
                              {out.data_ptr<float>() + i * columns, static_cast<std::size_t>(columns)});
    }
    return out.to(dtype);
}

}  // namespace deepstack::nn

#include "nn/blocks.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <torch/types.h>
#include <torch/version.h>

#include "deepstack/error.h"
#include "nn/cancel.h"

namespace deepstack::nn {

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 8)
    // On a GPU a decode step is bound by kernel launches: one fused kernel (fp32 inside) instead of seven.
    if (x.is_cuda()) return at::rms_norm(x, {x.size(-1)}, weight, eps);
#endif
    const auto x32 = x.to(torch::kFloat32);
    const auto normed = x32 * torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
    return weight * normed.to(x.scalar_type());
}

torch::Tensor layer_norm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias, double eps) {
    return torch::layer_norm(x, {x.size(-1)}, weight, bias, eps);
}

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight, const std::optional<torch::Tensor>& bias) {
    // One row (a decode step) is a matrix-vector product: LibTorch's gemv path reads the weights about 2.7x faster
    // than its gemm with m = 1 (measured: 5.5 vs 2.0 GFLOP/s on a 6144x2048 fp32 matrix, 2 threads).
    if (x.dim() == 2 && x.size(0) == 1 && x.scalar_type() == torch::kFloat32 && x.device().is_cpu()) {
        auto y = torch::mv(weight, x[0]).unsqueeze(0);
        return bias ? y + *bias : y;
    }
    return bias ? torch::linear(x, weight, *bias) : torch::linear(x, weight);
}

torch::Tensor gelu_tanh(const torch::Tensor& x) { return torch::gelu(x, "tanh"); }
torch::Tensor gelu_erf(const torch::Tensor& x) { return torch::gelu(x); }
torch::Tensor quick_gelu(const torch::Tensor& x) { return x * torch::sigmoid(1.702 * x); }

torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
    const auto half = x.size(-1) / 2;
    const auto rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
    return x * cos + rotated * sin;
}

namespace {

// One block of queries against every key; `causal_offset` counts the keys before the block's first query.
torch::Tensor attention_block(const torch::Tensor& q, const torch::Tensor& keys, const torch::Tensor& values, double scale,
                              std::optional<std::int64_t> causal_offset) {
    const auto lq = q.size(1), lk = keys.size(1);
    // Only queries that are not the last position of a cache need a mask (a single new token sees everything).
    std::optional<torch::Tensor> mask;
    if (causal_offset && (lq > 1 || *causal_offset + 1 < lk)) {
        const auto rows = torch::arange(lq, torch::TensorOptions().device(q.device())).unsqueeze(1) + *causal_offset;
        const auto cols = torch::arange(lk, torch::TensorOptions().device(q.device())).unsqueeze(0);
        mask = cols <= rows;  // [Lq, Lk], true = may attend
    }
#if TORCH_VERSION_MAJOR >= 2
    return at::scaled_dot_product_attention(q.unsqueeze(0), keys.unsqueeze(0), values.unsqueeze(0),
                                            mask ? c10::optional<at::Tensor>(*mask) : c10::nullopt, 0.0, false, scale)
        .squeeze(0);
#else
    // Scores and softmax in fp32, as PyTorch's SDPA math path does for reduced precision inputs.
    auto scores = torch::matmul(q.to(torch::kFloat32), keys.to(torch::kFloat32).transpose(1, 2)) * scale;
    if (mask) scores = scores.masked_fill(mask->logical_not(), -std::numeric_limits<float>::infinity());
    return torch::matmul(torch::softmax(scores, -1).to(values.scalar_type()), values);
#endif
}

}  // namespace

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale,
                        std::optional<std::int64_t> causal_offset, std::int64_t score_bytes) {
    const auto heads = q.size(0), kv_heads = k.size(0);
    const auto lq = q.size(1), lk = k.size(1);
#if TORCH_VERSION_MAJOR >= 2
    // A decode step sees every key: the query heads that share a key/value head are attended as that head's rows,
    // so the cache is read where it is instead of being copied group-fold each step (heads kv * group + g share kv).
    if (lq == 1 && heads != kv_heads && (!causal_offset || *causal_offset + 1 == lk)) {
        const auto grouped = q.reshape({kv_heads, heads / kv_heads, q.size(2)});
        return at::scaled_dot_product_attention(grouped.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0), c10::nullopt, 0.0, false, scale)
            .squeeze(0)
            .reshape({heads, 1, v.size(2)});
    }
#endif
#if TORCH_VERSION_MAJOR < 2
    // A decode step: the query heads that share a key/value head are that head's rows, so the cache is read in
    // place (kept in fp32 by kv_cache_dtype) rather than copied group-fold and converted.
    if (lq == 1 && (!causal_offset || *causal_offset + 1 == lk)) {
        const auto grouped = q.reshape({kv_heads, heads / kv_heads, q.size(2)}).to(k.scalar_type());
        const auto scores = torch::matmul(grouped, k.transpose(1, 2)).to(torch::kFloat32) * scale;
        return torch::matmul(torch::softmax(scores, -1).to(v.scalar_type()), v).reshape({heads, 1, v.size(2)}).to(q.scalar_type());
    }
#endif
    auto keys = k, values = v;
    if (heads != kv_heads) {  // grouped-query attention: each key/value head serves heads / kv_heads queries
        keys = k.repeat_interleave(heads / kv_heads, 0);
        values = v.repeat_interleave(heads / kv_heads, 0);
    }
#if TORCH_VERSION_MAJOR >= 2
    // LibTorch 2's fused kernels (flash and memory-efficient attention, on the CPU and on CUDA) never hold the
    // scores, so one call serves any length, unless a causal mask must be spelled out as a tensor: a prefill after
    // earlier turns, whose queries start past the first key.
    const bool plain_causal = causal_offset && *causal_offset == 0 && lq == lk;
    if (!causal_offset || plain_causal || (lq == 1 && *causal_offset + 1 == lk))
        return at::scaled_dot_product_attention(q.unsqueeze(0), keys.unsqueeze(0), values.unsqueeze(0), c10::nullopt, 0.0,
                                                plain_causal && lq > 1, scale)
            .squeeze(0);
#endif
    // The scores of a block (and the mask's bytes beside them) stay within score_bytes.
    const auto row_bytes = heads * lk * static_cast<std::int64_t>(sizeof(float)) + lk;
    const auto block = std::max<std::int64_t>(1, score_bytes / std::max<std::int64_t>(1, row_bytes));
    if (block >= lq) return attention_block(q, keys, values, scale, causal_offset).to(q.scalar_type());
    auto out = torch::empty({heads, lq, v.size(2)}, q.options());
    for (std::int64_t start = 0; start < lq; start += block) {
        stop_if_cancelled();  // one layer's attention over a big picture can take seconds (LibTorch 1.13 has no SDPA)
        const auto n = std::min(block, lq - start);
        // A causal block never sees keys past its last query: they are left out rather than masked.
        const auto visible = causal_offset ? std::min(lk, *causal_offset + start + n) : lk;
        out.narrow(1, start, n)
            .copy_(attention_block(q.narrow(1, start, n), keys.narrow(1, 0, visible), values.narrow(1, 0, visible), scale,
                                   causal_offset ? std::optional<std::int64_t>(*causal_offset + start) : std::nullopt));
    }
    return out;
}

torch::ScalarType kv_cache_dtype(torch::ScalarType compute) {
#if TORCH_VERSION_MAJOR >= 2
    return compute;
#else
    // LibTorch 1.13 has no SDPA: attention computes in fp32 (attention_block), so a reduced-precision cache would
    // be converted whole at every decode step (measured: about 40 % of a step at 3000 tokens). The cache is kept in
    // fp32 instead, at twice its memory; only each step's new keys and values are converted.
    return compute == torch::kBFloat16 || compute == torch::kHalf ? torch::kFloat32 : compute;
#endif
}

KvCache::KvCache(std::int64_t layers, std::int64_t kv_heads, std::int64_t head_dim, std::int64_t capacity,
                 torch::TensorOptions options)
    : layers_(layers), capacity_(capacity) {
    options = options.dtype(kv_cache_dtype(c10::typeMetaToScalarType(options.dtype())));
    keys_ = torch::empty({layers, kv_heads, capacity, head_dim}, options);
    values_ = torch::empty({layers, kv_heads, capacity, head_dim}, options);
}

KvCache KvCache::for_training(std::int64_t layers) {
    KvCache cache;
    cache.layers_ = layers;
    cache.capacity_ = std::numeric_limits<std::int64_t>::max();
    cache.grown_keys_.resize(static_cast<std::size_t>(layers));
    cache.grown_values_.resize(static_cast<std::size_t>(layers));
    return cache;
}

std::pair<torch::Tensor, torch::Tensor> KvCache::append(std::int64_t layer, const torch::Tensor& k, const torch::Tensor& v) {
    const auto n = k.size(1);
    if (!keys_.defined()) {
        if (grown_keys_.empty()) throw Error(ErrorKind::internal, "", "keys and values appended to a cache without room");
        auto& keys = grown_keys_.at(static_cast<std::size_t>(layer));
        auto& values = grown_values_.at(static_cast<std::size_t>(layer));
        // New tensors, not written into the old: a copy of the cache still holds the old ones.
        keys = keys.defined() ? torch::cat({keys, k}, 1) : k;
        values = values.defined() ? torch::cat({values, v}, 1) : v;
        return {keys, values};
    }
    if (length_ + n > capacity_)
        throw Error(ErrorKind::resources, "", "the context is full: " + std::to_string(length_) + " + " + std::to_string(n) +
                                                  " tokens exceed the KV cache of " + std::to_string(capacity_));
    keys_[layer].narrow(1, length_, n).copy_(k);
    values_[layer].narrow(1, length_, n).copy_(v);
    return {keys_[layer].narrow(1, 0, length_ + n), values_[layer].narrow(1, 0, length_ + n)};
}

void KvCache::commit(std::int64_t written) {
    if (keys_.defined() || !grown_keys_.empty()) length_ += written;
}

void KvCache::truncate(std::int64_t length) {
    if (length < 0 || length > length_) throw Error(ErrorKind::internal, "", "KV cache truncated past its length");
    length_ = length;
}

KvCache::Tail KvCache::copy_tail(std::int64_t from) const {
    if (from < 0 || from > length_) throw Error(ErrorKind::internal, "", "KV cache tail copied from past its length");
    return {from, keys_.narrow(2, from, length_ - from).clone(), values_.narrow(2, from, length_ - from).clone()};
}

void KvCache::restore(const Tail& tail) {
    const auto n = tail.keys.size(2);
    if (tail.from < 0 || tail.from > length_ || tail.from + n > capacity_)
        throw Error(ErrorKind::internal, "", "KV cache tail restored at a position it cannot hold");
    keys_.narrow(2, tail.from, n).copy_(tail.keys);
    values_.narrow(2, tail.from, n).copy_(tail.values);
    length_ = tail.from + n;
}

}  // namespace deepstack::nn

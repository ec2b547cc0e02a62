// Building blocks shared by every model family: norms, activations, rotary embedding, attention, the KV cache.
// Internal to the core (LibTorch in the signature). Shapes use: L sequence, H heads, Hkv key/value heads,
// D head size, C channels, P cached positions.
#pragma once

#include <optional>
#include <vector>

#include <torch/types.h>

namespace deepstack::nn {

// RMSNorm as Hugging Face computes it: statistics in fp32, weight applied after casting back.
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);
torch::Tensor layer_norm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias, double eps);
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& weight, const std::optional<torch::Tensor>& bias = std::nullopt);
torch::Tensor gelu_tanh(const torch::Tensor& x);
torch::Tensor gelu_erf(const torch::Tensor& x);
torch::Tensor quick_gelu(const torch::Tensor& x);

// NeoX-style rotation: pairs (i, i + D/2). x [.., D]; cos, sin broadcastable to x.
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

// The most memory one attention call's scores (H x queries x keys, fp32) may take at once: longer inputs run a
// block of queries at a time. A 12-megapixel photo is ~47 000 vision patches, whose whole score matrix would be
// 141 GB for 16 heads.
inline constexpr std::int64_t kAttentionScoreBytes = std::int64_t{64} << 20;

// Softmax attention. q [H, Lq, D], k and v [Hkv, Lk, D] (H a multiple of Hkv: grouped-query attention).
// `causal_offset`: when set, query i may see keys 0 .. causal_offset + i (the cache holds causal_offset
// earlier positions); when empty, every query sees every key. Returns [H, Lq, D]. Never holds more than
// `score_bytes` of scores: LibTorch 2's fused kernels hold none; where they cannot serve (LibTorch 1.13, or a
// prefill after earlier turns, whose causal mask is a tensor) the queries run in blocks (each row's softmax is its
// own, so blocks change nothing).
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, double scale,
                        std::optional<std::int64_t> causal_offset, std::int64_t score_bytes = kAttentionScoreBytes);

// Keys and values of every layer, allocated once for `capacity` positions and written by index.
// The type the KV cache keeps for a compute type: the same, except on LibTorch 1.13, whose attention reads the
// cache in fp32 (there a bf16 or fp16 cache is kept in fp32).
torch::ScalarType kv_cache_dtype(torch::ScalarType compute);

class KvCache {
public:
    KvCache() = default;
    KvCache(std::int64_t layers, std::int64_t kv_heads, std::int64_t head_dim, std::int64_t capacity,
            torch::TensorOptions options);

    // Training's cache: the keys and values are autograd's own tensors, never written into storage (autograd must
    // see them unmodified); a pass's are joined to the earlier ones. A copy shares what is there and grows on its
    // own: a page's common beginning runs once, and each of its conversations goes on from a copy.
    static KvCache for_training(std::int64_t layers);

    std::int64_t length() const { return length_; }
    std::int64_t capacity() const { return capacity_; }
    bool empty() const { return layers_ == 0; }
    // Keys and values of one position over every layer, in the cache's own type.
    std::uint64_t bytes_per_position() const {
        return keys_.defined() ? static_cast<std::uint64_t>(2 * layers_ * keys_.size(1) * keys_.size(3) * static_cast<std::int64_t>(keys_.element_size())) : 0;
    }

    // Writes k, v [Hkv, L, D] of `layer` at positions length() .. length() + L - 1 and returns the keys and
    // values of positions 0 .. length() + L - 1. The length advances once every layer has written (commit).
    std::pair<torch::Tensor, torch::Tensor> append(std::int64_t layer, const torch::Tensor& k, const torch::Tensor& v);
    void commit(std::int64_t written);
    void truncate(std::int64_t length);  // forget positions from `length` on (regenerate, edit)

    // A copy of positions `from` .. length() - 1, and putting it back (the cache then ends where the copy ends):
    // a pass that re-runs a turn (attention capture) leaves the cache bit for bit as it was.
    struct Tail {
        std::int64_t from = 0;
        torch::Tensor keys, values;
    };
    Tail copy_tail(std::int64_t from) const;
    void restore(const Tail& tail);

private:
    std::int64_t layers_ = 0;
    std::int64_t capacity_ = 0;
    std::int64_t length_ = 0;
    torch::Tensor keys_;    // [layers, Hkv, capacity, D]
    torch::Tensor values_;  // [layers, Hkv, capacity, D]
    std::vector<torch::Tensor> grown_keys_, grown_values_;  // for_training: per layer [Hkv, length, D]
};

}  // namespace deepstack::nn

// Attention capture for the visualisation. Internal (LibTorch in the signature).
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace deepstack::nn {

// Records, for chosen rows of the sequence, softmax(q k^T * scale) over chosen key positions (the image tokens) and
// the share that went to every other position, for chosen layers and every head. The rows are recomputed from the
// layer's queries and the cached keys, so the numbers do not depend on which attention kernel ran, and only a few
// rows' scores exist at a time (never the whole L x L matrix). Positions are absolute (cache positions).
class AttentionProbe {
public:
    AttentionProbe(std::vector<std::int64_t> rows, std::vector<std::int64_t> key_positions, std::vector<std::int64_t> layers,
                   std::int64_t heads);

    // q [H, L, D] of the new positions past .. past + L - 1 (after rotary and norms), keys [Hkv, past + L, D].
    void record(std::int64_t layer, const torch::Tensor& q, const torch::Tensor& keys, double scale, std::int64_t past);

    // True once every row was seen at every chosen layer.
    bool complete() const;

    const std::vector<float>& chosen() const { return chosen_; }        // [row][layer][head][key position]
    const std::vector<float>& elsewhere() const { return elsewhere_; }  // [row][layer][head]

private:
    std::vector<std::int64_t> rows_, key_positions_, layers_;
    std::int64_t heads_ = 0;
    std::vector<float> chosen_, elsewhere_;
    std::vector<std::uint8_t> seen_;  // [row][layer]
};

}  // namespace deepstack::nn

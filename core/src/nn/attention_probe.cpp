#include "nn/attention_probe.h"

#include <algorithm>
#include <limits>

#include <torch/types.h>

#include "deepstack/error.h"

namespace deepstack::nn {

namespace {
constexpr std::int64_t kRowsAtOnce = 16;  // bounds the scores alive at once to H x 16 x P floats
}

AttentionProbe::AttentionProbe(std::vector<std::int64_t> rows, std::vector<std::int64_t> key_positions, std::vector<std::int64_t> layers,
                               std::int64_t heads)
    : rows_(std::move(rows)), key_positions_(std::move(key_positions)), layers_(std::move(layers)), heads_(heads) {
    if (!std::is_sorted(rows_.begin(), rows_.end()) || !std::is_sorted(key_positions_.begin(), key_positions_.end()) ||
        !std::is_sorted(layers_.begin(), layers_.end()))
        throw Error(ErrorKind::internal, "", "attention probe: rows, key positions and layers must be ascending");
    const auto cells = rows_.size() * layers_.size() * static_cast<std::size_t>(heads_);
    chosen_.assign(cells * key_positions_.size(), 0.0f);
    elsewhere_.assign(cells, 0.0f);
    seen_.assign(rows_.size() * layers_.size(), 0);
}

bool AttentionProbe::complete() const {
    return std::all_of(seen_.begin(), seen_.end(), [](std::uint8_t s) { return s != 0; });
}

void AttentionProbe::record(std::int64_t layer, const torch::Tensor& q, const torch::Tensor& keys, double scale, std::int64_t past) {
    const auto slot_it = std::find(layers_.begin(), layers_.end(), layer);
    if (slot_it == layers_.end()) return;
    const auto slot = static_cast<std::size_t>(slot_it - layers_.begin());
    const auto length = q.size(1), key_count = keys.size(1), heads = q.size(0);
    if (heads != heads_ || heads % keys.size(0) != 0)
        throw Error(ErrorKind::internal, "", "attention probe: " + std::to_string(heads) + " query heads for " +
                                                 std::to_string(keys.size(0)) + " key heads, expected " + std::to_string(heads_));

    // The chosen rows among this call's new positions.
    std::vector<std::int64_t> local, row_index;
    for (std::size_t i = 0; i < rows_.size(); ++i)
        if (rows_[i] >= past && rows_[i] < past + length) {
            local.push_back(rows_[i] - past);
            row_index.push_back(static_cast<std::int64_t>(i));
        }
    if (local.empty()) return;
    if (!key_positions_.empty() && key_positions_.back() >= key_count)
        throw Error(ErrorKind::internal, "", "attention probe: key position " + std::to_string(key_positions_.back()) +
                                                 " is past the " + std::to_string(key_count) + " cached keys");

    const auto device = q.device();
    auto k = keys.to(torch::kFloat32);
    if (heads != keys.size(0)) k = k.repeat_interleave(heads / keys.size(0), 0);  // grouped-query attention
    const auto kt = k.transpose(1, 2);                                             // [H, D, P]
    const auto chosen_index = torch::tensor(key_positions_, torch::kLong).to(device);
    auto elsewhere_mask = torch::ones({key_count}, torch::TensorOptions().dtype(torch::kFloat32).device(device));
    if (!key_positions_.empty()) elsewhere_mask.index_fill_(0, chosen_index, 0.0);
    const auto columns = torch::arange(key_count, torch::TensorOptions().dtype(torch::kLong).device(device)).unsqueeze(0);
    const auto width = key_positions_.size();

    for (std::size_t begin = 0; begin < local.size(); begin += kRowsAtOnce) {
        const auto count = std::min<std::size_t>(kRowsAtOnce, local.size() - begin);
        const std::vector<std::int64_t> part(local.begin() + static_cast<std::ptrdiff_t>(begin),
                                             local.begin() + static_cast<std::ptrdiff_t>(begin + count));
        const auto part_index = torch::tensor(part, torch::kLong).to(device);
        // As the model computes them: scores in fp32, a row sees the keys up to its own position.
        auto scores = torch::matmul(q.index_select(1, part_index).to(torch::kFloat32), kt) * scale;  // [H, R, P]
        const auto visible = columns <= (part_index + past).unsqueeze(1);                              // [R, P]
        scores = scores.masked_fill(visible.logical_not().unsqueeze(0), -std::numeric_limits<float>::infinity());
        const auto probs = torch::softmax(scores, -1);
        const auto rest = (probs * elsewhere_mask).sum(-1).transpose(0, 1).contiguous().cpu();                 // [R, H]
        const auto picked = (width > 0 ? probs.index_select(2, chosen_index) : probs.narrow(2, 0, 0))
                                .transpose(0, 1).contiguous().cpu();                                          // [R, H, V]
        const auto* rest_data = rest.data_ptr<float>();
        const auto* picked_data = picked.data_ptr<float>();
        for (std::size_t r = 0; r < count; ++r) {
            const auto row = static_cast<std::size_t>(row_index[begin + r]);
            const auto cell = (row * layers_.size() + slot) * static_cast<std::size_t>(heads_);
            std::copy_n(rest_data + r * static_cast<std::size_t>(heads_), heads_, elsewhere_.begin() + static_cast<std::ptrdiff_t>(cell));
            std::copy_n(picked_data + r * static_cast<std::size_t>(heads_) * width, static_cast<std::size_t>(heads_) * width,
                        chosen_.begin() + static_cast<std::ptrdiff_t>(cell * width));
            seen_[row * layers_.size() + slot] = 1;
        }
    }
}

}  // namespace deepstack::nn

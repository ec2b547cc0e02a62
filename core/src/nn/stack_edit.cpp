#include "nn/stack_edit.h"

#include <algorithm>

#include <torch/types.h>

namespace deepstack::nn {

StackEdit::StackEdit(std::vector<std::int64_t> leave_out, bool measure) : leave_out_(std::move(leave_out)), measure_(measure) {}

bool StackEdit::leaves_out(std::int64_t group) const {
    return std::find(leave_out_.begin(), leave_out_.end(), group) != leave_out_.end();
}

namespace {
void append(std::vector<float>& to, const torch::Tensor& values) {
    const auto v = values.to(torch::kCPU, torch::kFloat32).contiguous();
    to.insert(to.end(), v.data_ptr<float>(), v.data_ptr<float>() + v.numel());
}
}  // namespace

void StackEdit::joined(std::int64_t group, const torch::Tensor& hidden, const torch::Tensor& added) {
    if (!measure_) return;
    auto it = std::find_if(joins_.begin(), joins_.end(), [&](const JoinMeasure& m) { return m.group == group; });
    if (it == joins_.end()) {
        joins_.push_back({group, {}, {}, {}});
        it = joins_.end() - 1;
    }
    const auto h = hidden.to(torch::kFloat32), a = added.to(torch::kFloat32);
    const auto hn = h.norm(2, -1), an = a.norm(2, -1);
    const auto denominator = hn * an;
    const auto cosine = torch::where(denominator > 0, (h * a).sum(-1) / denominator.clamp_min(1e-30), torch::zeros_like(denominator));
    append(it->added_norm, an);
    append(it->hidden_norm, hn);
    append(it->cosine, cosine);
}

void StackEdit::reached_top(const torch::Tensor& hidden) {
    if (!measure_ && leave_out_.empty()) return;
    const auto rows = hidden.to(torch::kCPU, torch::kFloat32);
    top_ = top_.defined() ? torch::cat({top_, rows}) : rows.clone();
}

}  // namespace deepstack::nn

// What one pass does to the stacked groups: leave chosen ones out (as if their features were zero) and, when
// asked, measure each group where it joins the hidden states and what reaches the top. The families call it at
// the one place each adds its groups (qwen3_vl/text.cpp, deepstack_llama/llama.cpp and clip.cpp). Internal
// (LibTorch in the signature).
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace deepstack::nn {

// One group's addition, per token of the sequence it joins (the image positions of the language model, or the
// vision tower's patch tokens for DeepStack-V), images in order.
struct JoinMeasure {
    std::int64_t group = 0;           // from 0, the stack plan's order
    std::vector<float> added_norm;    // |what the group adds|
    std::vector<float> hidden_norm;   // |the hidden state it is added to|
    std::vector<float> cosine;        // between the two; 0 where either is zero
};

class StackEdit {
public:
    StackEdit() = default;
    StackEdit(std::vector<std::int64_t> leave_out, bool measure);

    bool leaves_out(std::int64_t group) const;
    bool changes_anything() const { return !leave_out_.empty(); }
    bool measuring() const { return measure_; }

    // Where group `group` joins: the rows it is added to [T, C] (before the addition) and what it adds [T, C].
    // Called once per image and group; the measures of one group follow the images' order.
    void joined(std::int64_t group, const torch::Tensor& hidden, const torch::Tensor& added);
    // The image positions' hidden states after the last layer [T, C] (before the final norm), images in order.
    void reached_top(const torch::Tensor& hidden);

    const std::vector<JoinMeasure>& joins() const { return joins_; }
    const torch::Tensor& top() const { return top_; }  // [T, C] fp32 on the CPU; undefined before reached_top

private:
    std::vector<std::int64_t> leave_out_;
    bool measure_ = false;
    std::vector<JoinMeasure> joins_;
    torch::Tensor top_;
};

}  // namespace deepstack::nn

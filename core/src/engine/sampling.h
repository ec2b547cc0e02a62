// Choosing the next token from logits: penalties, temperature, top-k, top-p, a seeded generator. Internal.
#pragma once

#include <vector>

#include <torch/types.h>

#include "deepstack/engine.h"

namespace deepstack::engine {

class Sampler {
public:
    explicit Sampler(const SamplingSettings& settings);
    // `logits` [V] fp32. `context` the ids the repetition penalty looks at (prompt and reply, as transformers);
    // `generated` those the presence penalty looks at (the reply).
    TokenId next(torch::Tensor logits, const std::vector<TokenId>& context, const std::vector<TokenId>& generated);

private:
    SamplingSettings settings_;
    torch::Generator generator_;
};

}  // namespace deepstack::engine

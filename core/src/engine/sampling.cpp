#include "engine/sampling.h"

#include <torch/types.h>

namespace deepstack::engine {

namespace {
torch::Tensor distinct(const std::vector<TokenId>& ids) {
    std::vector<std::int64_t> unique(ids.begin(), ids.end());
    std::sort(unique.begin(), unique.end());
    unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
    return torch::tensor(unique, torch::kLong);
}
}  // namespace

Sampler::Sampler(const SamplingSettings& settings)
    : settings_(settings), generator_(at::detail::createCPUGenerator(settings.seed)) {}

TokenId Sampler::next(torch::Tensor logits, const std::vector<TokenId>& context, const std::vector<TokenId>& generated) {
    logits = logits.to(torch::kFloat32).to(torch::kCPU).clone();
    if (settings_.repetition_penalty != 1.0 && !context.empty()) {
        // transformers: a seen token's logit is divided by the penalty when positive, multiplied when negative.
        const auto seen = distinct(context);
        const auto values = logits.index_select(0, seen);
        logits.index_put_({seen}, torch::where(values > 0, values / settings_.repetition_penalty, values * settings_.repetition_penalty));
    }
    if (settings_.presence_penalty != 0.0 && !generated.empty()) {
        const auto seen = distinct(generated);
        logits.index_put_({seen}, logits.index_select(0, seen) - settings_.presence_penalty);
    }
    if (settings_.temperature <= 0.0) return static_cast<TokenId>(logits.argmax().item<std::int64_t>());

    logits = logits / settings_.temperature;
    if (settings_.top_k > 0 && settings_.top_k < logits.size(0)) {
        const auto kth = std::get<0>(logits.topk(settings_.top_k)).min();
        logits.masked_fill_(logits < kth, -std::numeric_limits<float>::infinity());
    }
    if (settings_.top_p < 1.0) {
        // Keep the smallest set of tokens whose probability reaches top_p (always at least the best one).
        const auto [sorted, order] = logits.sort(/*dim=*/0, /*descending=*/true);
        const auto cumulative = torch::softmax(sorted, 0).cumsum(0);
        auto drop = (cumulative - torch::softmax(sorted, 0)) > settings_.top_p;
        logits.index_put_({order.masked_select(drop)}, -std::numeric_limits<float>::infinity());
    }
    const auto probabilities = torch::softmax(logits, 0);
    return static_cast<TokenId>(torch::multinomial(probabilities, 1, false, generator_).item<std::int64_t>());
}

}  // namespace deepstack::engine

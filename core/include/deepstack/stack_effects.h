// What the stacked groups change, measured on the latest answer: leave groups out and compare the answers token by
// token (ablation), and how much each group moves the hidden state of every image position where it joins and
// what of that reaches the top (the injection map). Plain data (no LibTorch); Conversation::ablate and
// Conversation::measure_injections compute it, the app and `deepstack-cli ablate` show and export it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "deepstack/attention.h"
#include "deepstack/stack_plan.h"
#include "deepstack/tokenizer.h"

namespace deepstack {

struct AblationRequest {
    // The groups to leave out, numbered as in the stack plan (1 = the first to enter). Empty: none, a control run
    // that must reproduce the answer.
    std::vector<int> groups;
    bool answer_again = true;  // also generate the answer without them (with the sampling given to ablate)
};

// One token of the original answer, scored with and without the groups (teacher-forced: both runs read the same
// original tokens, so they compare position by position). The model's own distribution: no sampling penalties.
struct TokenChange {
    TokenId token = 0;
    std::string text;
    double logprob = 0, ablated_logprob = 0;
    // The token's logit minus the best other token's: positive when it is the model's first choice.
    double margin = 0, ablated_margin = 0;
    bool flipped() const { return (margin > 0) != (ablated_margin > 0); }
};

struct Ablation {
    std::vector<int> groups;  // left out, plan numbers
    std::vector<std::string> labels;
    std::vector<TokenId> tokens;  // the original answer
    std::string text;
    std::vector<TokenId> ablated_tokens;  // the answer without the groups (empty when not asked for)
    std::string ablated_text;
    std::string ablated_stop;  // why that answer ended ("end_of_turn", "max_tokens", ...)
    std::vector<TokenChange> changes;  // one per scored token of the original answer
    double milliseconds = 0;

    double mean_logprob_change() const;  // mean of ablated - original; 0 for an empty answer
    double largest_logprob_drop() const; // the most negative change (0 when none drops)
    int flipped_tokens() const;          // tokens that stop (or start) being the first choice
    // Index of the first token where the answers differ; -1 when they are the same.
    std::int64_t first_difference() const;
};

// One group where it joins, per token of the sequence it joins (the language model's image positions, or the
// vision tower's patch tokens for DeepStack-V), images in order.
struct GroupInjection {
    int group = 0;  // plan number
    std::string label, source;
    Tower tower = Tower::language;
    std::int64_t layer = 0;
    bool before_layer = true;
    std::vector<float> relative_change;  // |added| / |hidden it joins|
    std::vector<float> cosine;           // between the two
    // Per image position of the language model: |top without the group - top with it| / |top with it|, the top
    // being the last layer's output (before the final norm).
    std::vector<float> change_at_top;
    double mean_relative_change() const;
    double mean_change_at_top() const;
};

struct InjectionMap {
    std::string family, variant;
    std::vector<AttentionImage> images;  // the latest question's pictures with their plans
    std::vector<GroupInjection> groups;  // every group that joins, bottom to top
    double milliseconds = 0;
};

// JSON exports (ids, texts, numbers and the plan), for other tools.
std::string ablation_json(const Ablation& ablation);
std::string injection_map_json(const InjectionMap& map);

}  // namespace deepstack

// What the core knows about a model family before it loads a single weight: the tensors its config implies,
// the DeepStack plan, and the sizes that decide whether it fits. Each family folder fills one of these from its
// typed config (models/<model_type>/architecture.cpp); models/registry.cpp picks the family.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "deepstack/safetensors.h"

namespace deepstack::models {

// A tensor the config says the checkpoint must hold, and which part of the model it belongs to.
struct TensorSpec {
    std::string name;
    Shape shape;
    std::string part;       // "vision tower", "mergers", "projector", "language model"
    bool optional = false;  // e.g. lm_head.weight of a model with tied embeddings
};

// One stacked group of visual tokens and where it enters.
struct StackStep {
    std::string group;      // "group 1 (deepstack_merger_list.0)", "group 1": from 1, as the app numbers them
    std::string source;     // what it is computed from: "vision block 5", "high-resolution crops"
    std::string target;     // "language model", "vision tower"
    int target_layer = 0;   // 0-based layer index in `target`
    std::string placement;  // "added after layer 0", "added before layer 1"
};

struct ArchitectureDescription {
    std::string family;        // the model_type: "qwen3_vl", "deepstack_llama"
    std::string display_name;  // "Qwen3-VL", "DeepStack-L (LLaVA)"
    bool runnable = false;
    std::string not_runnable_reason;

    std::vector<std::pair<std::string, std::string>> facts;  // layers, widths, heads...: for people, in order
    std::vector<std::string> parts;                          // the part names, bottom to top
    std::vector<TensorSpec> tensors;
    std::vector<StackStep> deepstack_plan;

    std::int64_t kv_cache_bytes_per_token = 0;  // K and V of every layer, bf16
    std::int64_t context_tokens = 0;            // the context the memory estimate assumes
    std::int64_t longest_context = 0;           // the window the model was trained for: a conversation holds no more
    std::int64_t workspace_bytes = 0;           // activations of one prefill chunk and one image, bf16 (estimate)
    std::int64_t vocab_size = 0;
    // Token strings the config refers to by id; the tokenizer must agree ("<|image_pad|>" -> 151655).
    std::vector<std::pair<std::string, std::int64_t>> special_tokens;

    std::vector<std::string> problems;  // the config contradicts itself
    std::vector<std::string> notes;     // assumptions taken (defaults applied, a vision tower inferred)
};

}  // namespace deepstack::models

// What the shared generation loop (engine.cpp) needs from a model family. Internal (LibTorch).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "deepstack/engine.h"
#include "deepstack/error.h"
#include "deepstack/tokenizer.h"
#include "nn/attention_probe.h"
#include "nn/blocks.h"
#include "nn/stack_edit.h"
#include "quant/formats.h"

namespace deepstack::engine {

// What a family computed for a turn from its images (features, position ids); each family derives its own.
struct FamilyTurnState {
    virtual ~FamilyTurnState() = default;
};

// A turn ready to run: its new token ids and whatever the family computed from its images.
struct PreparedTurn {
    std::vector<TokenId> ids;
    std::size_t prefix_tokens = 0;  // how many of `ids` close the previous reply
    struct ImageSpan {
        std::int64_t offset = 0;  // in `ids`
        std::int64_t tokens = 0;
    };
    std::vector<ImageSpan> images;  // in the order of the message's images
    std::int64_t image_tokens = 0;
    double vision_ms = 0;
    bool vision_reused = false;  // the pictures' vision pass came from an earlier turn that showed the same ones
    std::shared_ptr<const FamilyTurnState> state;  // for prefill; read back with state_of<T>()
};

// The family's state of a turn; a turn prepared by another family's session is an error, not a wrong cast.
template <typename State>
const State& state_of(const PreparedTurn& turn) {
    const auto* state = dynamic_cast<const State*>(turn.state.get());
    if (state == nullptr) throw Error(ErrorKind::internal, "", "a turn prepared by another model's session was run");
    return *state;
}

// Where a session stood: its cache length and the next position id (MRoPE runs behind the length after images).
struct SessionMark {
    std::int64_t length = 0;
    std::int64_t next_position = 0;
};

// The per-conversation part of a family: it owns the KV cache and the position bookkeeping.
class FamilySession {
public:
    explicit FamilySession(nn::KvCache cache) : cache_(std::move(cache)) {}
    virtual ~FamilySession() = default;
    // `first` is the conversation's first turn (it carries the system prompt); `prefix` goes before the turn's
    // own tokens (it closes the previous reply, whose end-of-turn token was sampled but never run).
    virtual PreparedTurn prepare(const Message& user, const std::string& system_prompt, bool first,
                                 const std::vector<TokenId>& prefix) = 0;
    // Logits of the last position [V], fp32. A probe, when given, records attention rows on the way; an edit
    // leaves stacked groups out or measures them (the family applies it wherever its groups join, the vision
    // tower included).
    virtual torch::Tensor prefill(const PreparedTurn& turn, nn::AttentionProbe* probe, nn::StackEdit* edit) = 0;
    virtual torch::Tensor decode(TokenId token) = 0;  // logits of the new position [V], fp32
    // Runs text tokens with no image (a reply replayed from a saved conversation, a capture pass, a reply scored
    // token by token); logits of the last position [V], or of every new one [L, V], fp32.
    virtual torch::Tensor extend(const std::vector<TokenId>& ids, nn::AttentionProbe* probe, bool every_position = false) = 0;
    virtual std::int64_t heads() const = 0;  // attention heads of the language model
    // A family whose position ids run behind the cache length (MRoPE after images) keeps its own next position.
    virtual SessionMark mark() const { return {cache_.length(), cache_.length()}; }
    virtual void rewind(const SessionMark& mark) { cache_.truncate(mark.length); }  // forget everything after `mark`

    std::int64_t length() const { return cache_.length(); }
    std::int64_t capacity() const { return cache_.capacity(); }
    nn::KvCache& cache() { return cache_; }

protected:
    nn::KvCache cache_;
};

class Family {
public:
    virtual ~Family() = default;
    virtual std::unique_ptr<FamilySession> new_session(std::int64_t capacity) = 0;
    virtual std::vector<TokenId> end_of_turn_ids() const = 0;  // sampling one of these ends the reply
    virtual std::vector<TokenId> close_reply_ids() const = 0;  // appended after a reply before the next turn
    virtual std::int64_t language_layers() const = 0;
};

// The format EngineOptions::weights asks for the language model's matrices; nullopt: dense.
std::optional<quant::Format> matrix_format(WeightFormat weights);

// ---- the runnable families, one entry each ---------------------------------------------------------------------

// What the engine asks of a family's loader.
struct OpenRequest {
    c10::ScalarType dtype = c10::kBFloat16;
    c10::Device device = c10::Device(c10::kCPU);
    std::function<void(std::uint64_t done_bytes, std::uint64_t total_bytes)> weights_progress;
    // The image budget asked for (0: the folder's own bound) and what this device handles well: an automatic
    // budget never exceeds the folder's maximum, one asked for explicitly may.
    std::int64_t min_image_pixels = 0, max_image_pixels = 0;
    std::int64_t device_max_image_pixels = 0;
    std::optional<quant::Format> matrices;  // the language model's matrices quantized to this as they are read
};

struct OpenedFamily {
    std::unique_ptr<Family> family;
    std::int64_t max_image_pixels = 0;  // the budget in force; 0 for a family whose pictures have a fixed size
};

// A family's entry point on LibTorch, under its model_type (models/registry.h holds the torch-free side). Each
// family defines its own in models/<family>/runtime.cpp; runtime_of() lists them.
struct BenchRun;  // engine/bench_run.h

struct Runtime {
    std::string model_type;
    OpenedFamily (*open)(const std::filesystem::path& folder, const OpenRequest& request, const Tokenizer& tokenizer) = nullptr;
    // `deepstack-cli bench`: the random presets of published shapes it builds, and the timing itself (JSON).
    std::vector<std::string> bench_presets;
    std::string (*bench)(const BenchRun& run) = nullptr;
};

// The runtime of `model_type`, or nullptr when this version cannot run it.
const Runtime* runtime_of(const std::string& model_type);
// Every runnable family, in the order of engine/runtimes.cpp.
const std::vector<Runtime>& runtimes();

}  // namespace deepstack::engine

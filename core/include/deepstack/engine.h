// Running a model: load a folder, hold a conversation whose KV cache carries over between turns, stream the
// answer token by token, stop it from another thread. Plain value types only: no LibTorch here.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "deepstack/attention.h"
#include "deepstack/image.h"
#include "deepstack/stack_effects.h"
#include "deepstack/stack_plan.h"
#include "deepstack/tokenizer.h"

namespace deepstack {

enum class DeviceKind { cpu, cuda };
// automatic: bf16 on CUDA and on CPUs with a fast bf16 matmul (AVX-512 BW/VL/DQ, what LibTorch's oneDNN path
// needs); fp32 elsewhere, where LibTorch falls back to a reference bf16 kernel about 35x slower than fp32 BLAS.
enum class ComputeType { automatic, bf16, f32 };
// How the language model's matrices are kept in memory. automatic: in the compute type. q8_0 (about 1.06 bytes a
// weight), q4_k and q4_0 (0.56): GGUF's block formats, quantized as the weights are read and multiplied by integer
// kernels (decode) or as dequantized tiles (prefill); activations and every other weight stay in the compute
// type. The CPU only. A matrix whose rows are not whole
// blocks falls back to Q8_0 (blocks of 32), or stays fp32.
enum class WeightFormat { automatic, q8_0, q4_k, q4_0 };

struct EngineOptions {
    DeviceKind device = DeviceKind::cpu;
    ComputeType compute = ComputeType::automatic;
    WeightFormat weights = WeightFormat::automatic;
    int threads = 0;                          // 0: every core of the machine
    std::int64_t context_tokens = 8192;       // KV cache capacity of a conversation; at most the trained window
    std::int64_t min_image_pixels = 0;        // 0: the folder's preprocessor_config.json
    // The largest picture, in pixels after resizing, the model reads (Qwen3-VL resizes a larger one down, keeping
    // its aspect ratio): it sets the number of image tokens, hence the time and memory a picture costs.
    // 0: automatic_image_pixels() for the device, never above the folder's own maximum.
    std::int64_t max_image_pixels = 0;
    // Called on the loading thread as the weights are read (fraction 0..1). It may throw deepstack::Error with
    // ErrorKind::cancelled to abandon the load.
    std::function<void(double fraction)> on_load_progress;
};

// Whether this build can run on CUDA (a LibTorch with CUDA and a visible GPU).
bool cuda_available();
// What LibTorch computes with here: its version, the CPU kernels it dispatches to on this machine ("AVX512",
// "AVX2") and the BLAS it was built with ("mkl" in PyPI's wheel, "open" for Debian's OpenBLAS).
struct LibTorchKernels {
    std::string version, cpu_capability, blas;
};
LibTorchKernels libtorch_kernels();
// "LibTorch 2.15.0 (CPU kernels AVX512, BLAS mkl; CUDA: 1 device)", for bench and the About box.
std::string libtorch_description();
// "quantized weights (Q8_0, Q4_K, Q4_0, Q6_K): avx2 kernels", chosen by this CPU's features, for the About box.
std::string quantized_kernels_description();
// What `automatic` means on this machine for `device`.
ComputeType resolve_compute(ComputeType requested, DeviceKind device);

struct InspectReport;
// The memory the weights of an inspected folder take once loaded with these choices (the language model's
// matrices in `weights`' format, every other weight in the compute type): what the model manager shows.
std::uint64_t weights_memory_bytes(const InspectReport& report, ComputeType compute, WeightFormat weights, DeviceKind device);

// The picture budget (pixels after resizing) EngineOptions::max_image_pixels = 0 stands for. On a GPU: the
// model's own maximum (16.8 M pixels for Qwen3-VL, 16 384 tokens). On the CPU, where the vision tower and the
// prefill run at a few hundred tokens a second: 1 M pixels (1024 Qwen3-VL tokens, an A4 page at about 100 dpi)
// per 2 cores, at most 4 M, so that a phone photo or a 300-dpi scan is answered within about a minute.
std::int64_t automatic_image_pixels(DeviceKind device, int threads);

struct SamplingSettings {
    double temperature = 0.0;  // 0: greedy
    std::int64_t top_k = 0;    // 0: off
    double top_p = 1.0;        // 1: off
    double repetition_penalty = 1.0;
    double presence_penalty = 0.0;
    std::uint64_t seed = 0;
    std::int64_t max_new_tokens = 512;
};

struct Message {
    enum class Role { system, user, assistant };
    Role role = Role::user;
    std::string text;
    std::vector<RgbImage> images;  // shown before the text, in order
};

// interrupted: a remote engine's stream broke off (the server stopped or the connection dropped); the text so far
// is kept.
enum class StopReason { end_of_turn, max_tokens, cancelled, context_full, interrupted };
std::string_view to_string(StopReason reason);

struct GenerationResult {
    std::string text;
    std::vector<TokenId> tokens;
    StopReason stop = StopReason::end_of_turn;
    std::int64_t prompt_tokens = 0;   // new tokens this turn fed to the model (images included)
    std::int64_t image_tokens = 0;
    std::int64_t context_tokens = 0;  // the conversation's length after the turn
    double vision_ms = 0;
    // The pictures' vision pass was not run again: the model had just encoded the same pictures (another question
    // about the same page, the same question asked again); vision_ms is then only the comparison.
    bool vision_reused = false;
    double prefill_ms = 0;
    double time_to_first_token_ms = 0;
    std::vector<double> decode_ms;    // one per generated token after the first
    double prefill_tokens_per_s() const;
    double decode_tokens_per_s() const;
};

struct ModelInfo {
    std::string family;        // model_type
    std::string display_name;  // "Qwen3-VL"
    std::filesystem::path folder;
    std::string device;        // "cpu", "cuda:0"
    std::string compute;       // "bf16", "f32"; with quantized matrices their format too: "q8_0 + bf16"
    std::int64_t parameters = 0;
    std::int64_t context_tokens = 0;
    // The picture budget in effect (pixels after resizing; EngineOptions::max_image_pixels resolved). 0 for a
    // family that reads pictures at a fixed size (DeepStack-L's crops).
    std::int64_t max_image_pixels = 0;
};

class Conversation;

class Model {
public:
    virtual ~Model() = default;
    // Checks the folder (inspect), that the weights fit in memory, then loads. Throws deepstack::Error.
    static std::unique_ptr<Model> load(const std::filesystem::path& folder, const EngineOptions& options = {});

    virtual const ModelInfo& info() const = 0;
    // generation_config.json's settings (greedy when the folder does not ask for sampling).
    virtual SamplingSettings default_sampling() const = 0;
    virtual std::unique_ptr<Conversation> start_conversation(const std::string& system_prompt = {}) = 0;
    // Which visual tokens a picture of width x height becomes and where each stacked group enters.
    virtual StackPlan stack_plan(std::int64_t width, std::int64_t height) const = 0;
};

struct GenerationCallbacks {
    // Called for each piece of text as soon as it is whole UTF-8 (on the calling thread).
    std::function<void(std::string_view text)> on_text;
    // Called for each generated token of the reply (not the end-of-turn one), before its text.
    std::function<void(TokenId token)> on_token;
};

// One chat: the messages so far live in the model's KV cache, so a follow-up question only runs its new tokens.
class Conversation {
public:
    virtual ~Conversation() = default;
    // Adds the user's message and generates the reply. `cancel` may be set from any thread; the loop checks it
    // before every step. The reply stays in the conversation whatever stopped it.
    virtual GenerationResult send(const Message& user, const SamplingSettings& sampling,
                                  const GenerationCallbacks& callbacks = {}, const std::atomic<bool>* cancel = nullptr) = 0;
    virtual std::int64_t context_tokens() const = 0;
    virtual std::int64_t context_capacity() const = 0;

    // Exchanges (a question and its reply, whole or stopped) the conversation holds.
    virtual std::size_t turns() const = 0;
    // Forgets the exchanges from `turn` on (regenerate, edit and resend): the cache goes back to where that
    // question began, so nothing before it runs again.
    virtual void rewind(std::size_t turn) = 0;
    // Adds an earlier exchange without generating (a conversation restored from disk): the question as `send`
    // would, then the reply as `reply_tokens`, or as `reply_text` encoded when no tokens are given.
    virtual void replay(const Message& user, const std::string& reply_text, const std::vector<TokenId>& reply_tokens = {}) = 0;

    // Records the attention of the latest exchange over its pictures by running it once more with a probe (a
    // prefill of the question and reply; nothing is generated and the cache ends exactly as it was). Throws
    // Error(config) when there is no latest exchange to look into or it had no picture, Error(resources) when the numbers would exceed
    // request.memory_cap_bytes, Error(cancelled) when `cancel` is set.
    virtual AttentionCapture capture_attention(const AttentionRequest& request, const std::atomic<bool>* cancel = nullptr) = 0;

    // Runs the latest exchange again with the chosen stacked groups left out (as if their features were zero):
    // the original answer's tokens scored with and without them, and, when asked, the answer generated without
    // them under `sampling`. The conversation and its cache end exactly as they were. Throws Error(config) when
    // there is no latest answer with a picture, the model has no stacked groups or a group number is not in the
    // plan; Error(cancelled) when `cancel` is set.
    virtual Ablation ablate(const AblationRequest& request, const SamplingSettings& sampling, const std::atomic<bool>* cancel = nullptr) = 0;
    // For every stacked group of the latest question's pictures: how much it changes the hidden state of each
    // position where it joins, and what of that reaches the last layer (one pass with the group and one without
    // each). The conversation ends as it was; the same errors as ablate.
    virtual InjectionMap measure_injections(const std::atomic<bool>* cancel = nullptr) = 0;
};

}  // namespace deepstack

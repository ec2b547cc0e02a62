// Loading a model folder for its family's runtime (refused first when it cannot fit the memory), and what the
// core reports of LibTorch, its kernels and the compute type. Conversations: conversation.h.
#include "deepstack/engine.h"

#include <algorithm>
#include <thread>

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/types.h>
#include <torch/version.h>

#include "deepstack/error.h"
#include "deepstack/inspect.h"
#include "deepstack/model_folder.h"
#include "deepstack/system.h"
#include "engine/conversation.h"
#include "engine/family.h"
#include "nn/blocks.h"
#include "quant/formats.h"
#include "quant/kernels.h"

namespace deepstack {

std::string_view to_string(StopReason reason) {
    switch (reason) {
        case StopReason::end_of_turn: return "end_of_turn";
        case StopReason::max_tokens: return "max_tokens";
        case StopReason::cancelled: return "cancelled";
        case StopReason::context_full: return "context_full";
        case StopReason::interrupted: return "interrupted";
    }
    return "?";
}

double GenerationResult::prefill_tokens_per_s() const { return prefill_ms > 0 ? 1000.0 * static_cast<double>(prompt_tokens) / prefill_ms : 0; }
double GenerationResult::decode_tokens_per_s() const {
    double total = 0;
    for (const auto ms : decode_ms) total += ms;
    return total > 0 ? 1000.0 * static_cast<double>(decode_ms.size()) / total : 0;
}

bool cuda_available() { return torch::cuda::is_available(); }

LibTorchKernels libtorch_kernels() {
    // at::show_config() is the one place LibTorch says which BLAS it was built with and which CPU kernels it
    // dispatches to on this machine ("CPU capability usage: AVX512", "BLAS_INFO=mkl").
    const auto config = at::show_config();
    const auto value_after = [&](const std::string& key, const std::string& ends) {
        const auto at = config.find(key);
        if (at == std::string::npos) return std::string();
        const auto from = at + key.size();
        return config.substr(from, config.find_first_of(ends, from) - from);
    };
    return {TORCH_VERSION, value_after("CPU capability usage: ", "\n"), value_after("BLAS_INFO=", ",\n")};
}

std::string libtorch_description() {
    const auto kernels = libtorch_kernels();
    std::string out = "LibTorch " + kernels.version + " (CPU kernels " + kernels.cpu_capability + ", BLAS " + kernels.blas + "; ";
    if (!torch::cuda::is_available()) return out + (at::hasCUDA() ? "CUDA built in, no GPU visible)" : "no CUDA)");
    const auto devices = torch::cuda::device_count();
    return out + "CUDA: " + std::to_string(devices) + (devices == 1 ? " device)" : " devices)");
}

std::string quantized_kernels_description() {
    return "quantized weights (Q8_0, Q4_K, Q4_0, Q6_K): " + quant::matvec_kernel_name() + " kernels";
}

ComputeType resolve_compute(ComputeType requested, DeviceKind device) {
    if (requested != ComputeType::automatic) return requested;
    if (device == DeviceKind::cuda) return ComputeType::bf16;
    __builtin_cpu_init();
    const bool fast_bf16 = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    return fast_bf16 ? ComputeType::bf16 : ComputeType::f32;
}

std::int64_t automatic_image_pixels(DeviceKind device, int threads) {
    constexpr std::int64_t kModelMaximum = 16777216, kPerTwoCores = 1 << 20;
    if (device == DeviceKind::cuda) return kModelMaximum;
    if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    return std::clamp<std::int64_t>(threads / 2, 1, 4) * kPerTwoCores;
}

namespace engine {
std::optional<quant::Format> matrix_format(WeightFormat weights) {
    switch (weights) {
        case WeightFormat::automatic: return std::nullopt;
        case WeightFormat::q8_0: return quant::Format::q8_0;
        case WeightFormat::q4_k: return quant::Format::q4_k;
        case WeightFormat::q4_0: return quant::Format::q4_0;
    }
    return std::nullopt;
}

}  // namespace engine

// What the weights take in memory: the language model's matrices in their format, every other weight in the
// compute type (the checkpoint's bytes at bf16 are what the report counts).
std::uint64_t weights_memory_bytes(const InspectReport& report, ComputeType requested, WeightFormat weights, DeviceKind device) {
    const auto matrices = engine::matrix_format(weights);
    const auto compute = resolve_compute(requested, device);
    const std::uint64_t element = compute == ComputeType::f32 ? 4 : 2;
    if (!matrices && !report.gguf) return report.cpu.weights_bytes / 2 * element;
    std::uint64_t bytes = 0;
    for (const auto& part : report.parts) {
        const auto parameters = static_cast<std::uint64_t>(part.parameters);
        // A GGUF file's quantized matrices are used as stored (its dense ones are converted like any checkpoint's).
        const bool stored_quantized = report.gguf && device == DeviceKind::cpu && part.bytes < parameters * 2;
        if (stored_quantized) {
            bytes += part.bytes;
        } else if (part.name == "language model" && matrices) {
            const auto& t = quant::traits(*matrices);
            bytes += parameters * static_cast<std::uint64_t>(t.block_bytes) / static_cast<std::uint64_t>(t.block_size);
        } else {
            bytes += parameters * element;
        }
    }
    return bytes;
}

std::unique_ptr<Conversation> engine::ModelImpl::start_conversation(const std::string& system_prompt) {
    return std::make_unique<engine::ConversationImpl>(*this, system_prompt);
}

std::unique_ptr<Model> Model::load(const std::filesystem::path& model_path, const EngineOptions& options) {
    const auto folder = resolve_model_path(model_path);
    const auto report = inspect_model_folder(folder);
    if (!report.problems.empty()) {
        std::string all;
        for (const auto& p : report.problems) all += "\n  - " + p;
        throw Error(ErrorKind::config, folder.string(), "cannot load this model folder:" + all);
    }
    if (!report.runnable) throw Error(ErrorKind::unsupported, folder.string(), report.display_name + ": " + report.not_runnable_reason);

    const bool cuda = options.device == DeviceKind::cuda;
    const auto matrices = engine::matrix_format(options.weights);
    if (matrices && cuda)
        throw Error(ErrorKind::unsupported, "", std::string(quant::traits(*matrices).name) + " weights run on the CPU only in this version");
    const auto compute = resolve_compute(options.compute, options.device);
    if (cuda && !cuda_available())
        throw Error(ErrorKind::unsupported, "", "CUDA was asked for, but this LibTorch has no CUDA or no GPU is visible");
    // A conversation holds at most the window the model was trained for: past it the model would read positions it
    // never saw, and answer worse without saying so.
    const auto context = report.longest_context_tokens > 0 ? std::min(options.context_tokens, report.longest_context_tokens)
                                                           : options.context_tokens;
    // Refuse before allocating anything when the weights and cache cannot fit.
    const auto weight_bytes = weights_memory_bytes(report, options.compute, options.weights, options.device);
    // The report counts a bf16 cache; an fp32 one (f32 compute, or LibTorch 1.13's attention) takes twice that.
    const bool fp32_cache = nn::kv_cache_dtype(compute == ComputeType::f32 ? torch::kFloat32 : torch::kBFloat16) == torch::kFloat32;
    const auto needed = weight_bytes + report.kv_cache_bytes_per_token * static_cast<std::uint64_t>(context) *
                                           (fp32_cache ? 2 : 1) +
                        report.cpu.workspace_bytes;
    if (!cuda) {
        const auto available = available_memory_bytes();
        if (available > 0 && needed > available)
            throw Error(ErrorKind::resources, folder.string(),
                        "this model needs about " + human_bytes(needed) + " of memory (weights " + human_bytes(weight_bytes) +
                            ", context of " + std::to_string(context) + " tokens, activations) but only " +
                            human_bytes(available) + " is available");
    }

    const int threads = options.threads > 0 ? options.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(threads);

    return engine::guarded("loading failed", [&]() -> std::unique_ptr<Model> {
        c10::InferenceMode inference;
        const auto report_progress = [&](double fraction) {
            if (options.on_load_progress) options.on_load_progress(fraction);
        };
        report_progress(0.0);
        auto model = std::make_unique<engine::ModelImpl>();
        model->tokenizer_ = Tokenizer::load(folder);
        report_progress(0.05);
        model->context_tokens_ = context;
        model->min_image_pixels_ = options.min_image_pixels;
        model->max_image_pixels_ = options.max_image_pixels > 0 ? options.max_image_pixels : automatic_image_pixels(options.device, threads);
        const auto dtype = compute == ComputeType::f32 ? c10::kFloat : c10::kBFloat16;
        const auto device = cuda ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
        // The weights are most of the work: 5 % .. 99 % follows the bytes read.
        const auto weights_progress = [&](std::uint64_t done, std::uint64_t total) {
            if (total > 0) report_progress(0.05 + 0.94 * static_cast<double>(done) / static_cast<double>(total));
        };
        const auto* runtime = engine::runtime_of(report.family);
        if (runtime == nullptr)
            throw Error(ErrorKind::unsupported, folder.string(), report.display_name + " cannot be run by this version yet (inspect only)");
        engine::OpenRequest request{dtype, device, weights_progress, options.min_image_pixels, options.max_image_pixels,
                                    model->max_image_pixels_, matrices};
        auto opened = runtime->open(folder, request, *model->tokenizer_);
        model->family_ = std::move(opened.family);
        model->max_image_pixels_ = opened.max_image_pixels;
        model->info_ = {report.family, report.display_name, folder, cuda ? "cuda:0" : "cpu",
                        (matrices ? std::string(quant::traits(*matrices).name) + " + " : std::string()) + (compute == ComputeType::f32 ? "f32" : "bf16"),
                        report.total_parameters, model->context_tokens_,
                        model->max_image_pixels_};
        if (std::filesystem::exists(folder / "generation_config.json")) {
            const auto g = read_generation_config(folder / "generation_config.json");
            if (g.do_sample) {
                model->defaults_.temperature = g.temperature.value_or(1.0);
                model->defaults_.top_k = g.top_k.value_or(0);
                model->defaults_.top_p = g.top_p.value_or(1.0);
            }
            model->defaults_.repetition_penalty = g.repetition_penalty.value_or(1.0);
            if (g.max_new_tokens) model->defaults_.max_new_tokens = *g.max_new_tokens;
        }
        report_progress(1.0);
        return model;
    });
}

}  // namespace deepstack

// `deepstack-cli bench`: the part every family shares (the run's settings, the report's common fields) and the
// choice of the family, by the folder's model_type or the preset's name; each family times its own passes in
// models/<family>/bench.cpp.
#include "deepstack/bench.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/types.h>
#include <torch/version.h>

#include "config/json_fields.h"
#include "deepstack/engine.h"
#include "deepstack/error.h"
#include "deepstack/system.h"
#include "engine/bench_run.h"
#include "engine/clock.h"
#include "engine/cuda_memory.h"
#include "engine/family.h"
#include "quant/kernels.h"

namespace deepstack {

namespace engine {

void BenchRun::sync() const {
    if (cuda) torch::cuda::synchronize();
}

RgbImage synthetic_image(int width, int height) {
    RgbImage image{width, height, std::vector<std::uint8_t>(static_cast<std::size_t>(width) * height * 3)};
    for (std::size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<std::uint8_t>((i * 2654435761u) >> 24);
    return image;
}

// What the CPU's threads read from DRAM per second, measured now: the decode step's bound is the bytes of
// weights it reads per token over this. LibTorch's vectorised sum over a 1 GiB buffer (far beyond any cache), on
// the bench's threads; the best of three. (A scalar loop measures the adder's latency instead: 29 against 76 GB/s
// on this project's EPYC.)
double measure_read_gb_per_s() {
    constexpr std::int64_t kFloats = std::int64_t{1} << 28;
    const auto buffer = torch::ones({kFloats}, torch::kFloat32);
    double best = 0;
    for (int round = 0; round < 3; ++round) {
        const auto start = std::chrono::steady_clock::now();
        const auto total = buffer.sum().item<double>();
        const double seconds = elapsed_ms(start) / 1000.0;
        if (total != static_cast<double>(kFloats)) throw Error(ErrorKind::internal, "", "the bandwidth probe summed " + std::to_string(total));
        best = std::max(best, static_cast<double>(kFloats) * 4 / seconds / 1e9);
    }
    return best;
}

// The fields every bench report starts with: what ran, where, how.
nlohmann::ordered_json report_header(const BenchRun& run) {
    const auto& o = run.options;
    const auto cuda = run.cuda;
    const auto compute = run.compute;
    const auto threads = run.threads;
    nlohmann::ordered_json j;
    j["model"] = o.random_preset.empty() ? o.model.string() : "random " + o.random_preset;
    j["device"] = cuda ? "cuda:0" : "cpu";
    j["compute"] = compute == ComputeType::f32 ? "f32" : "bf16";
    const auto matrices = engine::matrix_format(o.engine.weights);
    j["weights"] = matrices ? quant::traits(*matrices).name : j["compute"].get<std::string>();
    if (matrices) j["quantized_kernels"] = quant::matvec_kernel_name();
    j["threads"] = threads;
    j["libtorch"] = TORCH_VERSION;
    // Every figure is only comparable on the same CPU with the same kernels: both go with it.
    const auto kernels = libtorch_kernels();
    j["libtorch_cpu_kernels"] = kernels.cpu_capability;
    j["libtorch_blas"] = kernels.blas;
    const auto cpu = cpu_info();
    const auto blas = blas_info();
    j["cpu"] = {{"model", cpu.model}, {"cores", cpu.cores}, {"features", cpu.features}};
    // Debian's LibTorch says "generic": the system's libblas, which libopenblas0 provides.
    j["blas"] = kernels.blas == "mkl" || blas.kernels.empty() ? nlohmann::ordered_json(kernels.blas + ", inside LibTorch")
                                     : nlohmann::ordered_json{{"library", blas.library}, {"kernels", blas.kernels},
                                                              {"detected_by_itself", !blas.forced.empty() ? "" : blas.detected.empty() ? blas.kernels : blas.detected},
                                                              {"forced_by_OPENBLAS_CORETYPE", blas.forced},
                                                              {"cpu_could_run", blas.possible}};
    return j;
}

// The timings every bench report has, in the same order.
void add_timings(nlohmann::ordered_json& j, std::size_t prompt_tokens, int new_tokens, double load_ms, double vision_ms,
                 double prefill_ms, const std::vector<double>& decode_ms) {
    double decode_total = 0;
    for (const auto ms : decode_ms) decode_total += ms;
    j["prompt_tokens"] = prompt_tokens;
    j["new_tokens"] = new_tokens;
    j["load_ms"] = load_ms;
    j["vision_encode_ms"] = vision_ms;
    j["prefill_ms"] = prefill_ms;
    j["time_to_first_token_ms"] = vision_ms + prefill_ms;
    j["prefill_tokens_per_s"] = prefill_ms > 0 ? 1000.0 * static_cast<double>(prompt_tokens) / prefill_ms : 0.0;
    j["decode_tokens_per_s"] = decode_total > 0 ? 1000.0 * static_cast<double>(decode_ms.size()) / decode_total : 0.0;
    j["decode_ms"] = decode_ms;
}

// GPU memory at the peak (the allocator's counters), or null on the CPU and in builds that cannot read them.
void add_cuda_memory(nlohmann::ordered_json& j, bool cuda) {
    const auto peak = cuda ? engine::cuda_memory_peak() : std::nullopt;
    j["peak_cuda_bytes"] = peak ? nlohmann::ordered_json(peak->reserved_bytes) : nlohmann::ordered_json(nullptr);
    j["peak_cuda_allocated_bytes"] = peak ? nlohmann::ordered_json(peak->allocated_bytes) : nlohmann::ordered_json(nullptr);
}

}  // namespace engine

std::string run_bench(const BenchOptions& o) {
    try {
        c10::InferenceMode inference;
        const int threads = o.engine.threads > 0 ? o.engine.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
        at::set_num_threads(threads);
        const bool cuda = o.engine.device == DeviceKind::cuda;
        if (cuda && !cuda_available()) throw Error(ErrorKind::unsupported, "", "CUDA was asked for, but this LibTorch has no CUDA or no GPU");
        const auto matrices = engine::matrix_format(o.engine.weights);
        if (matrices && cuda) throw Error(ErrorKind::unsupported, "", "quantized weights run on the CPU only in this version");
        const auto compute = resolve_compute(o.engine.compute, o.engine.device);
        const engine::BenchRun run{o,
                                   nn::LoadOptions{compute == ComputeType::f32 ? c10::kFloat : c10::kBFloat16,
                                                   cuda ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU), {}, matrices},
                                   cuda, threads, compute};

        // The family: the one whose presets name the random model, or the folder's model_type.
        const engine::Runtime* runtime = nullptr;
        std::string presets, families;
        for (const auto& r : engine::runtimes()) {
            if (r.bench == nullptr) continue;
            families += (families.empty() ? "" : ", ") + r.model_type;
            for (const auto& name : r.bench_presets) {
                presets += (presets.empty() ? "" : ", ") + name;
                if (name == o.random_preset) runtime = &r;
            }
        }
        if (!o.random_preset.empty()) {
            if (runtime == nullptr) throw Error(ErrorKind::unsupported, "", "unknown --random preset '" + o.random_preset + "' (" + presets + ")");
        } else {
            const auto json = config::read_json_file(o.model / "config.json");
            const auto model_type = config::Fields(json, (o.model / "config.json").string()).string("model_type", "");
            runtime = engine::runtime_of(model_type);
            if (runtime == nullptr || runtime->bench == nullptr)
                throw Error(ErrorKind::unsupported, o.model.string(), "bench runs " + families + " folders in this version");
        }
        return runtime->bench(run);
    } catch (const c10::Error& e) {
        throw Error(ErrorKind::internal, "", std::string("bench failed: ") + e.what_without_backtrace());
    }
}

}  // namespace deepstack

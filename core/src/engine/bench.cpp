#include "deepstack/bench.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <thread>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "config/json_fields.h"
#include "deepstack/engine.h"
#include "deepstack/error.h"
#include "deepstack/system.h"
#include "engine/clock.h"
#include "engine/cuda_memory.h"
#include "engine/family.h"
#include "quant/kernels.h"
#include "models/deepstack_llama/model.h"
#include "models/qwen3_vl/model.h"
#include "models/qwen3_vl/processor.h"

namespace deepstack {

namespace {

// The published shapes (../shared/specs/qwen3-vl.md section 4.1).
qwen3_vl::Config preset(const std::string& name, int layers) {
    nlohmann::json text = {{"vocab_size", 151936}, {"head_dim", 128}, {"num_key_value_heads", 8}, {"rms_norm_eps", 1e-6},
                           {"rope_theta", 5000000}, {"max_position_embeddings", 262144},
                           {"rope_scaling", {{"mrope_interleaved", true}, {"mrope_section", {24, 20, 20}}, {"rope_type", "default"}}}};
    nlohmann::json vision = {{"depth", 24}, {"hidden_size", 1024}, {"intermediate_size", 4096}, {"num_heads", 16},
                             {"patch_size", 16}, {"temporal_patch_size", 2}, {"spatial_merge_size", 2},
                             {"num_position_embeddings", 2304}, {"deepstack_visual_indexes", {5, 11, 17}}};
    bool tied = true;
    if (name == "qwen3-vl-2b") {
        text.update({{"hidden_size", 2048}, {"intermediate_size", 6144}, {"num_hidden_layers", 28}, {"num_attention_heads", 16}});
    } else if (name == "qwen3-vl-4b") {
        text.update({{"hidden_size", 2560}, {"intermediate_size", 9728}, {"num_hidden_layers", 36}, {"num_attention_heads", 32}});
    } else if (name == "qwen3-vl-8b") {
        text.update({{"hidden_size", 4096}, {"intermediate_size", 12288}, {"num_hidden_layers", 36}, {"num_attention_heads", 32}});
        vision.update({{"depth", 27}, {"hidden_size", 1152}, {"intermediate_size", 4304}, {"deepstack_visual_indexes", {8, 16, 24}}});
        tied = false;
    } else {
        throw Error(ErrorKind::unsupported, "", "unknown --random preset '" + name + "' (qwen3-vl-2b, qwen3-vl-4b, qwen3-vl-8b)");
    }
    if (layers > 0) text["num_hidden_layers"] = std::min(layers, text["num_hidden_layers"].get<int>());
    vision["out_hidden_size"] = text["hidden_size"];
    const nlohmann::json root = {{"model_type", "qwen3_vl"}, {"text_config", text}, {"vision_config", vision}, {"tie_word_embeddings", tied}};
    return qwen3_vl::parse_config(config::Fields(root, "preset " + name));
}

bool is_deepstack_preset(const std::string& name) { return name.starts_with("deepstack-"); }

// LLaVA-1.5's Vicuna-7B and CLIP ViT-L/14-336 (../shared/specs/deepstack.md sections 2.1 and 5.1).
deepstack_llama::Config deepstack_preset(const std::string& name, int layers) {
    nlohmann::json root = {{"model_type", "deepstack_llama"}, {"vocab_size", 32000}, {"hidden_size", 4096},
                           {"intermediate_size", 11008}, {"num_hidden_layers", 32}, {"num_attention_heads", 32},
                           {"num_key_value_heads", 32}, {"max_position_embeddings", 4096}, {"rms_norm_eps", 1e-5},
                           {"rope_theta", 10000.0}, {"tie_word_embeddings", false}, {"image_aspect_ratio", "deepstack"},
                           {"mm_hidden_size", 1024}, {"mm_projector_type", "mlp2x_gelu"}, {"mm_vision_select_layer", -2},
                           {"mm_vision_select_feature", "patch"}, {"mm_vision_tower", "openai/clip-vit-large-patch14-336"},
                           {"num_crops", 4}, {"tokenizer_model_max_length", 4096}};
    if (name == "deepstack-l-hd-7b") root["is_anyres_deepstack"] = true;
    else if (name != "deepstack-l-7b")
        throw Error(ErrorKind::unsupported, "", "unknown --random preset '" + name + "' (deepstack-l-7b, deepstack-l-hd-7b)");
    if (layers > 0) root["num_hidden_layers"] = std::min(layers, 32);
    return deepstack_llama::parse_config(config::Fields(root, "preset " + name));
}

// A picture with detail everywhere: the timings depend on shapes, not content.
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
nlohmann::ordered_json report_header(const BenchOptions& o, bool cuda, ComputeType compute, int threads) {
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

std::string bench_deepstack(const BenchOptions& o, const deepstack_llama::LoadOptions& load, bool cuda, int threads,
                            ComputeType compute) {
    auto sync = [&] {
        if (cuda) torch::cuda::synchronize();
    };
    const auto load_start = std::chrono::steady_clock::now();
    auto model = o.random_preset.empty() ? deepstack_llama::Model::load(o.model, load)
                                         : deepstack_llama::Model::random(deepstack_preset(o.random_preset, o.layers), load, o.seed);
    sync();
    const double load_ms = elapsed_ms(load_start);
    const auto& config = model->config();
    if (o.image_width <= 0 || o.image_height <= 0) throw Error(ErrorKind::unsupported, "", "bench of a DeepStack model needs --image WxH");

    // A GPU's first pass also loads kernels and creates library handles: warm up, then time (as in run_bench).
    double warmup_ms = 0;
    if (cuda) {
        const auto warmup_start = std::chrono::steady_clock::now();
        const auto views = deepstack_llama::make_views(synthetic_image(o.image_width, o.image_height), config,
                                                       deepstack_llama::clip_preprocessing(o.model, config));
        const auto features = model->encode_image(views);
        std::vector<std::int64_t> ids(static_cast<std::size_t>(features.embeds.size(0)) + 8, 5);
        auto cache = model->new_cache(static_cast<std::int64_t>(ids.size()) + o.new_tokens + 1);
        (void)model->forward(ids, {{&features, 1}}, cache, true)[0].argmax().item<std::int64_t>();
        for (int step = 0; step < o.new_tokens; ++step) (void)model->forward({5}, {}, cache, true)[0].argmax().item<std::int64_t>();
        warmup_ms = elapsed_ms(warmup_start);
        engine::reset_cuda_memory_peak();
    }

    const auto vision_start = std::chrono::steady_clock::now();
    const auto views = deepstack_llama::make_views(synthetic_image(o.image_width, o.image_height), config,
                                                   deepstack_llama::clip_preprocessing(o.model, config));
    const auto features = model->encode_image(views);
    sync();
    const double vision_ms = elapsed_ms(vision_start);

    torch::manual_seed(o.seed);
    const auto text = torch::randint(3, config.text.vocab_size, {o.prompt_text_tokens}, torch::kLong);
    // The image goes after a short text head, as in the vicuna template.
    const auto build_ids = [&](std::int64_t image_tokens) {
        std::vector<std::int64_t> ids{1};
        ids.insert(ids.end(), static_cast<std::size_t>(image_tokens), 0);
        for (std::int64_t i = 0; i < text.size(0); ++i) ids.push_back(text[i].item<std::int64_t>());
        return ids;
    };
    const auto time_prefill = [&](const deepstack_llama::ImageFeatures& image, std::vector<std::int64_t>& ids, nn::KvCache& cache) {
        const auto start = std::chrono::steady_clock::now();
        auto logits = model->forward(ids, {{&image, 1}}, cache, true);
        (void)logits[0].argmax().item<std::int64_t>();
        return elapsed_ms(start);
    };

    // As the model runs: the global view's tokens in the sequence, the groups stacked onto them.
    auto ids = build_ids(features.embeds.size(0));
    auto cache = model->new_cache(static_cast<std::int64_t>(ids.size()) + o.new_tokens + 1);
    const double prefill_ms = time_prefill(features, ids, cache);
    std::vector<double> decode_ms;
    std::int64_t token = 5;
    for (int step = 0; step < o.new_tokens; ++step) {
        const auto step_start = std::chrono::steady_clock::now();
        token = model->forward({token}, {}, cache, true)[0].argmax().item<std::int64_t>();
        decode_ms.push_back(elapsed_ms(step_start));
    }
    // The paper's comparison: the same tokens strung into the sequence (global + every group), nothing stacked.
    nlohmann::ordered_json comparison = nullptr;
    if (!features.stacks.empty()) {
        deepstack_llama::ImageFeatures sequence;
        std::vector<torch::Tensor> parts{features.embeds};
        for (const auto& s : features.stacks) parts.push_back(s);
        sequence.embeds = torch::cat(parts, 0);
        auto long_ids = build_ids(sequence.embeds.size(0));
        auto long_cache = model->new_cache(static_cast<std::int64_t>(long_ids.size()) + 1);
        const double sequence_ms = time_prefill(sequence, long_ids, long_cache);
        comparison = {{"stacked", {{"prompt_tokens", ids.size()}, {"prefill_ms", prefill_ms}}},
                      {"as_sequence", {{"prompt_tokens", long_ids.size()}, {"prefill_ms", sequence_ms}}},
                      {"sequence_over_stacked", prefill_ms > 0 ? sequence_ms / prefill_ms : 0.0}};
    }

    auto j = report_header(o, cuda, compute, threads);
    if (o.layers > 0 && !o.random_preset.empty()) j["decoder_layers"] = config.text.num_hidden_layers;
    j["image"] = {{"width", o.image_width}, {"height", o.image_height}, {"grid", {views.grid.columns, views.grid.rows}},
                  {"views", views.pixels.size(0)}, {"tokens", features.embeds.size(0)}, {"stacks", features.stacks.size()}};
    add_timings(j, ids.size(), o.new_tokens, load_ms, vision_ms, prefill_ms, decode_ms);
    if (cuda) j["warmup_pass_ms"] = warmup_ms;
    j["stacks_vs_sequence"] = comparison;
    j["peak_rss_bytes"] = peak_rss_bytes();
    add_cuda_memory(j, cuda);
    return j.dump(2);
}

}  // namespace

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
        const qwen3_vl::LoadOptions load{compute == ComputeType::f32 ? c10::kFloat : c10::kBFloat16,
                                         cuda ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU), {}, matrices};
        auto sync = [&] {
            if (cuda) torch::cuda::synchronize();
        };

        bool deepstack_family = is_deepstack_preset(o.random_preset);
        if (o.random_preset.empty()) {
            const auto json = config::read_json_file(o.model / "config.json");
            deepstack_family = config::Fields(json, (o.model / "config.json").string()).string("model_type", "") == "deepstack_llama";
        }
        if (deepstack_family) return bench_deepstack(o, load, cuda, threads, compute);

        const auto load_start = std::chrono::steady_clock::now();
        std::unique_ptr<qwen3_vl::Model> model;
        if (!o.random_preset.empty()) {
            model = qwen3_vl::Model::random(preset(o.random_preset, o.layers), load, o.seed);
        } else {
            const auto json = config::read_json_file(o.model / "config.json");
            const auto model_type = config::Fields(json, (o.model / "config.json").string()).string("model_type", "");
            if (model_type != "qwen3_vl")
                throw Error(ErrorKind::unsupported, o.model.string(), "bench runs qwen3_vl and deepstack_llama folders in this version");
            model = qwen3_vl::Model::load(o.model, load);
        }
        sync();
        const double load_ms = elapsed_ms(load_start);
        const auto& config = model->config();

        // A synthetic prompt: the timings depend on shapes, not content.
        torch::manual_seed(static_cast<std::uint64_t>(o.seed));
        const auto text_ids = torch::randint(0, std::min<std::int64_t>(config.text.vocab_size, 150000), {o.prompt_text_tokens}, torch::kLong);
        // The picture budget a chat on this device would use (EngineOptions::max_image_pixels).
        qwen3_vl::PixelBudget budget{o.engine.min_image_pixels > 0 ? o.engine.min_image_pixels : 65536,
                                     o.engine.max_image_pixels > 0 ? o.engine.max_image_pixels : automatic_image_pixels(o.engine.device, threads)};
        budget.min_pixels = std::min(budget.min_pixels, budget.max_pixels);
        // One pass: the picture through the tower, the prompt's prefill, then greedy steps on the cache.
        struct Pass {
            double vision_ms = 0, prefill_ms = 0;
            std::vector<double> decode_ms;
            std::int64_t image_tokens = 0;
            std::size_t prompt_tokens = 0;
        };
        const auto run_pass = [&](int new_tokens) {
            Pass pass;
            std::vector<std::int64_t> ids;
            std::vector<qwen3_vl::Grid> grids;
            qwen3_vl::VisionFeatures features;
            if (o.image_width > 0 && o.image_height > 0) {
                const auto image = synthetic_image(o.image_width, o.image_height);
                ImagePreprocessorConfig pre;
                const auto vision_start = std::chrono::steady_clock::now();
                const auto processed = qwen3_vl::preprocess(image, pre, budget);
                features = model->encode_images(processed.pixel_values, {processed.grid});
                sync();
                pass.vision_ms = elapsed_ms(vision_start);
                grids.push_back(processed.grid);
                pass.image_tokens = processed.grid[0] * processed.grid[1] * processed.grid[2] /
                                    (config.vision.spatial_merge_size * config.vision.spatial_merge_size);
                ids.push_back(config.vision_start_token_id);
                ids.insert(ids.end(), static_cast<std::size_t>(pass.image_tokens), config.image_token_id);
                ids.push_back(config.vision_end_token_id);
            }
            for (std::int64_t i = 0; i < text_ids.size(0); ++i) ids.push_back(text_ids[i].item<std::int64_t>());
            pass.prompt_tokens = ids.size();

            const auto index = model->rope_index(ids, grids);
            auto cache = model->new_cache(static_cast<std::int64_t>(ids.size()) + new_tokens + 1);
            const auto prefill_start = std::chrono::steady_clock::now();
            auto logits = model->forward(ids, index.positions, cache, grids.empty() ? nullptr : &features, true);
            auto token = logits[0].argmax().item<std::int64_t>();
            pass.prefill_ms = elapsed_ms(prefill_start);

            std::int64_t position = index.next_position;
            for (int step = 0; step < new_tokens; ++step) {
                const auto step_start = std::chrono::steady_clock::now();
                logits = model->forward({token}, torch::full({3, 1}, position++, torch::kLong), cache, nullptr, true);
                token = logits[0].argmax().item<std::int64_t>();  // the one host sync a caller needs per token
                pass.decode_ms.push_back(elapsed_ms(step_start));
            }
            return pass;
        };
        // A GPU's first pass also loads kernels and creates library handles (seconds), and its clocks rise only
        // under sustained work (measured on an H200: the first full pass decoded at a quarter of the later
        // passes' rate): time the passes after one whole untimed pass.
        double warmup_ms = 0;
        if (cuda) {
            const auto warmup_start = std::chrono::steady_clock::now();
            (void)run_pass(o.new_tokens);
            warmup_ms = elapsed_ms(warmup_start);
            engine::reset_cuda_memory_peak();
        }
        std::vector<Pass> passes;
        for (int r = 0; r < std::max(1, o.repeat); ++r) passes.push_back(run_pass(o.new_tokens));
        const auto peak_rss = peak_rss_bytes();  // before the bandwidth probe's buffer
        // Each phase's median over the passes; the decode steps listed are those of the pass with the median rate.
        const auto median_of = [&](auto value) {
            std::vector<double> values;
            for (const auto& p : passes) values.push_back(value(p));
            std::sort(values.begin(), values.end());
            return values[values.size() / 2];
        };
        const auto decode_rate = [](const Pass& p) { return static_cast<double>(p.decode_ms.size()) / std::accumulate(p.decode_ms.begin(), p.decode_ms.end(), 1e-9); };
        auto pass = passes.front();
        pass.vision_ms = median_of([](const Pass& p) { return p.vision_ms; });
        pass.prefill_ms = median_of([](const Pass& p) { return p.prefill_ms; });
        const double median_rate = median_of(decode_rate);
        for (const auto& p : passes)
            if (decode_rate(p) == median_rate) pass.decode_ms = p.decode_ms;
        const auto image_tokens = pass.image_tokens;
        auto j = report_header(o, cuda, compute, threads);
        if (o.layers > 0 && !o.random_preset.empty()) j["decoder_layers"] = config.text.num_hidden_layers;
        j["image"] = {{"width", o.image_width}, {"height", o.image_height}, {"max_image_pixels", budget.max_pixels}, {"tokens", image_tokens}};
        add_timings(j, pass.prompt_tokens, o.new_tokens, load_ms, pass.vision_ms, pass.prefill_ms, pass.decode_ms);
        if (cuda) j["warmup_pass_ms"] = warmup_ms;
        if (!cuda) {
            // A decode step reads every matrix of the language model once (the embedding only one row of it,
            // unless it is also the head).
            const auto per_token = model->decoder_weight_bytes();
            const auto bandwidth = measure_read_gb_per_s();
            const double bound = bandwidth * 1e9 / static_cast<double>(per_token);
            j["decode_weight_bytes_per_token"] = per_token;
            j["memory_read_gb_per_s"] = bandwidth;
            j["decode_bound_tokens_per_s"] = bound;
            j["decode_fraction_of_bound"] = j["decode_tokens_per_s"].get<double>() / bound;
        }
        if (passes.size() > 1) {
            auto& each = j["passes"] = nlohmann::ordered_json::array();
            for (const auto& p : passes)
                each.push_back({{"vision_encode_ms", p.vision_ms}, {"prefill_ms", p.prefill_ms}, {"decode_tokens_per_s", 1000.0 * decode_rate(p)}});
        }
        j["peak_rss_bytes"] = peak_rss;
        add_cuda_memory(j, cuda);
        return j.dump(2);
    } catch (const c10::Error& e) {
        throw Error(ErrorKind::internal, "", std::string("bench failed: ") + e.what_without_backtrace());
    }
}

}  // namespace deepstack

// `deepstack-cli bench` for Qwen3-VL: a folder, or random weights of the published shapes; the picture through the
// tower, the prompt's prefill, greedy steps on the cache, each phase's median over --repeat passes, and the decode
// step against the memory's read rate.
#include <algorithm>
#include <chrono>
#include <numeric>
#include <thread>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "config/json_fields.h"
#include "deepstack/error.h"
#include "deepstack/system.h"
#include "engine/bench_run.h"
#include "engine/clock.h"
#include "engine/cuda_memory.h"
#include "models/qwen3_vl/runtime.h"
#include "nn/cancel.h"

namespace deepstack::qwen3_vl {

namespace {

// The published shapes: those of the released config.json files (tests/data/configs/qwen3-vl-*-instruct.config.json).
Config preset(const std::string& name, int layers) {
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
    return parse_config(config::Fields(root, "preset " + name));
}

}  // namespace

// Sets a cancel flag from another thread `after_ms` into `work` (run under a CancelScope on this thread) and
// returns how long `work` then took to give up; a negative value when it finished before the flag was set.
template <typename Work>
double time_to_stop(Work&& work, double after_ms) {
    std::atomic<bool> flag{false};
    std::chrono::steady_clock::time_point set_at, stopped_at;
    std::thread stopper([&] {
        std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(after_ms));
        set_at = std::chrono::steady_clock::now();
        flag = true;
    });
    bool stopped = false;
    try {
        nn::CancelScope scope(&flag);
        work();
    } catch (const Error& e) {
        if (e.kind() != ErrorKind::cancelled) {
            stopper.join();
            throw;
        }
        stopped_at = std::chrono::steady_clock::now();
        stopped = true;
    }
    stopper.join();
    return stopped ? std::chrono::duration<double, std::milli>(stopped_at - set_at).count() : -1.0;
}

// Stop part way through the picture's vision pass and through the prompt's prefill, as a question's Stop does.
nlohmann::ordered_json stop_latency(const Model& model, const BenchOptions& o, const PixelBudget& budget, const torch::Tensor& text_ids,
                                    double vision_ms, double prefill_ms, const engine::BenchRun& run) {
    const auto& config = model.config();
    nlohmann::ordered_json j;
    // A stop lands anywhere in a layer: four points through the pass, and the longest wait.
    const auto stops = [](const auto& work, double pass_ms) {
        nlohmann::ordered_json each = nlohmann::ordered_json::array();
        double longest = 0;
        for (const double fraction : {0.2, 0.4, 0.6, 0.8}) {
            const auto waited = time_to_stop(work, pass_ms * fraction);
            each.push_back(waited);
            longest = std::max(longest, waited);
        }
        return nlohmann::ordered_json{{"each", each}, {"longest", longest}};
    };
    std::vector<std::int64_t> ids;
    std::vector<Grid> grids;
    if (o.image_width > 0 && o.image_height > 0) {
        const auto image = engine::synthetic_image(o.image_width, o.image_height);
        const auto processed = preprocess(image, ImagePreprocessorConfig{}, budget);
        j["vision_ms_to_stop"] = stops([&] { (void)model.encode_images(processed.pixel_values, {processed.grid}); run.sync(); }, vision_ms);
        grids.push_back(processed.grid);
        const auto image_tokens = processed.grid[0] * processed.grid[1] * processed.grid[2] /
                                  (config.vision.spatial_merge_size * config.vision.spatial_merge_size);
        ids.push_back(config.vision_start_token_id);
        ids.insert(ids.end(), static_cast<std::size_t>(image_tokens), config.image_token_id);
        ids.push_back(config.vision_end_token_id);
    }
    for (std::int64_t i = 0; i < text_ids.size(0); ++i) ids.push_back(text_ids[i].item<std::int64_t>());
    // The prefill reads the picture's features; they are made before the clock starts.
    VisionFeatures features;
    if (!grids.empty()) {
        const auto processed = preprocess(engine::synthetic_image(o.image_width, o.image_height), ImagePreprocessorConfig{}, budget);
        features = model.encode_images(processed.pixel_values, {processed.grid});
    }
    const auto index = model.rope_index(ids, grids);
    auto cache = model.new_cache(static_cast<std::int64_t>(ids.size()) + 1);
    j["prefill_ms_to_stop"] = stops(
        [&] {
            cache.truncate(0);
            (void)model.forward(ids, index.positions, cache, grids.empty() ? nullptr : &features, true);
            run.sync();
        },
        prefill_ms);
    j["note"] = "Stop set at 20, 40, 60 and 80 % of each pass's timed duration: milliseconds from the flag to the pass "
                "returning, in that order (negative: it finished first), and the longest";
    return j;
}

namespace {

// One pass: the picture through the tower, the prompt's prefill, then greedy steps on the cache.
struct Pass {
    double vision_ms = 0, prefill_ms = 0;
    std::vector<double> decode_ms;
    std::int64_t image_tokens = 0;
    std::size_t prompt_tokens = 0;
};

double decode_rate(const Pass& p) { return static_cast<double>(p.decode_ms.size()) / std::accumulate(p.decode_ms.begin(), p.decode_ms.end(), 1e-9); }

Pass timed_pass(const Model& model, const engine::BenchRun& run, const PixelBudget& budget, const torch::Tensor& text_ids) {
    const auto& o = run.options;
    const auto& config = model.config();
    Pass pass;
    std::vector<std::int64_t> ids;
    std::vector<Grid> grids;
    VisionFeatures features;
    if (o.image_width > 0 && o.image_height > 0) {
        const auto image = engine::synthetic_image(o.image_width, o.image_height);
        ImagePreprocessorConfig pre;
        const auto vision_start = std::chrono::steady_clock::now();
        const auto processed = preprocess(image, pre, budget);
        features = model.encode_images(processed.pixel_values, {processed.grid});
        run.sync();
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

    const auto index = model.rope_index(ids, grids);
    auto cache = model.new_cache(static_cast<std::int64_t>(ids.size()) + o.new_tokens + 1);
    const auto prefill_start = std::chrono::steady_clock::now();
    auto logits = model.forward(ids, index.positions, cache, grids.empty() ? nullptr : &features, true);
    auto token = logits[0].argmax().item<std::int64_t>();
    pass.prefill_ms = elapsed_ms(prefill_start);

    std::int64_t position = index.next_position;
    for (int step = 0; step < o.new_tokens; ++step) {
        const auto step_start = std::chrono::steady_clock::now();
        logits = model.forward({token}, torch::full({3, 1}, position++, torch::kLong), cache, nullptr, true);
        token = logits[0].argmax().item<std::int64_t>();  // the one host sync a caller needs per token
        pass.decode_ms.push_back(elapsed_ms(step_start));
    }
    return pass;
}

// Each phase's median over the passes; the decode steps kept are those of the pass with the median rate.
Pass median_pass(const std::vector<Pass>& passes) {
    const auto median_of = [&](auto value) {
        std::vector<double> values;
        for (const auto& p : passes) values.push_back(value(p));
        std::sort(values.begin(), values.end());
        return values[values.size() / 2];
    };
    auto pass = passes.front();
    pass.vision_ms = median_of([](const Pass& p) { return p.vision_ms; });
    pass.prefill_ms = median_of([](const Pass& p) { return p.prefill_ms; });
    const double median_rate = median_of(decode_rate);
    for (const auto& p : passes)
        if (decode_rate(p) == median_rate) pass.decode_ms = p.decode_ms;
    return pass;
}

// A decode step reads every matrix of the language model once (the embedding only one row of it, unless it is
// also the head): the rate the memory allows, measured now, against the one reached.
void add_decode_bound(nlohmann::ordered_json& j, const Model& model) {
    const auto per_token = model.decoder_weight_bytes();
    const auto bandwidth = engine::measure_read_gb_per_s();
    const double bound = bandwidth * 1e9 / static_cast<double>(per_token);
    j["decode_weight_bytes_per_token"] = per_token;
    j["memory_read_gb_per_s"] = bandwidth;
    j["decode_bound_tokens_per_s"] = bound;
    j["decode_fraction_of_bound"] = j["decode_tokens_per_s"].get<double>() / bound;
}

}  // namespace

std::string bench(const engine::BenchRun& run) {
    const auto& o = run.options;
    const auto load_start = std::chrono::steady_clock::now();
    const auto model = o.random_preset.empty() ? Model::load(o.model, run.load) : Model::random(preset(o.random_preset, o.layers), run.load, o.seed);
    run.sync();
    const double load_ms = elapsed_ms(load_start);
    const auto& config = model->config();

    // A synthetic prompt: the timings depend on shapes, not content.
    torch::manual_seed(static_cast<std::uint64_t>(o.seed));
    const auto text_ids = torch::randint(0, std::min<std::int64_t>(config.text.vocab_size, 150000), {o.prompt_text_tokens}, torch::kLong);
    // The picture budget a chat on this device would use (EngineOptions::max_image_pixels).
    PixelBudget budget{o.engine.min_image_pixels > 0 ? o.engine.min_image_pixels : 65536,
                       o.engine.max_image_pixels > 0 ? o.engine.max_image_pixels : automatic_image_pixels(o.engine.device, run.threads)};
    budget.min_pixels = std::min(budget.min_pixels, budget.max_pixels);
    // A GPU's first pass also loads kernels and creates library handles (seconds), and its clocks rise only
    // under sustained work (measured on an H200: the first full pass decoded at a quarter of the later
    // passes' rate): time the passes after one whole untimed pass.
    double warmup_ms = 0;
    if (run.cuda) {
        const auto warmup_start = std::chrono::steady_clock::now();
        (void)timed_pass(*model, run, budget, text_ids);
        warmup_ms = elapsed_ms(warmup_start);
        engine::reset_cuda_memory_peak();
    }
    std::vector<Pass> passes;
    for (int r = 0; r < std::max(1, o.repeat); ++r) passes.push_back(timed_pass(*model, run, budget, text_ids));
    const auto peak_rss = peak_rss_bytes();  // before the bandwidth probe's buffer
    const auto pass = median_pass(passes);

    auto j = engine::report_header(run);
    if (o.layers > 0 && !o.random_preset.empty()) j["decoder_layers"] = config.text.num_hidden_layers;
    j["image"] = {{"width", o.image_width}, {"height", o.image_height}, {"max_image_pixels", budget.max_pixels}, {"tokens", pass.image_tokens}};
    engine::add_timings(j, pass.prompt_tokens, o.new_tokens, load_ms, pass.vision_ms, pass.prefill_ms, pass.decode_ms);
    if (run.cuda) j["warmup_pass_ms"] = warmup_ms;
    if (!run.cuda) add_decode_bound(j, *model);
    if (passes.size() > 1) {
        auto& each = j["passes"] = nlohmann::ordered_json::array();
        for (const auto& p : passes)
            each.push_back({{"vision_encode_ms", p.vision_ms}, {"prefill_ms", p.prefill_ms}, {"decode_tokens_per_s", 1000.0 * decode_rate(p)}});
    }
    j["peak_rss_bytes"] = peak_rss;
    // The memory target's terms: the weights held and the cache this turn filled (the rest of the cache is
    // reserved address space, never touched).
    const auto cache_positions = static_cast<std::uint64_t>(pass.prompt_tokens) + static_cast<std::uint64_t>(o.new_tokens);
    const auto cache_bytes = cache_positions * model->new_cache(1).bytes_per_position();
    const auto weight_bytes = model->weight_bytes();
    j["weight_bytes"] = weight_bytes;
    j["kv_cache_bytes_in_use"] = cache_bytes;
    if (!run.cuda) j["peak_rss_over_weights_and_cache"] = static_cast<double>(peak_rss) / static_cast<double>(weight_bytes + cache_bytes);
    engine::add_cuda_memory(j, run.cuda);
    if (o.stop_latency) j["stop"] = stop_latency(*model, o, budget, text_ids, pass.vision_ms, pass.prefill_ms, run);
    return j.dump(2);
}

}  // namespace deepstack::qwen3_vl

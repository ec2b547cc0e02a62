// `deepstack-cli bench` for the DeepStack LLaVA family: a folder, or random weights of LLaVA-1.5-7B's shapes; the
// views through CLIP and the projector, the prefill with the groups stacked, greedy steps, and the paper's
// comparison: the same tokens strung into the sequence instead of stacked.
#include <chrono>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "config/json_fields.h"
#include "deepstack/error.h"
#include "deepstack/system.h"
#include "engine/bench_run.h"
#include "engine/clock.h"
#include "engine/cuda_memory.h"
#include "models/deepstack_llama/runtime.h"

namespace deepstack::deepstack_llama {

namespace {

// LLaVA-1.5's Vicuna-7B and CLIP ViT-L/14-336, as the released DeepStack-L-7B checkpoint's config.json
// (tests/data/configs/deepstack-l-vicuna-7b.config.json) and its tower.
Config preset(const std::string& name, int layers) {
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
    return parse_config(config::Fields(root, "preset " + name));
}

}  // namespace

std::string bench(const engine::BenchRun& run) {
    const auto& o = run.options;
    if (o.stop_latency) throw Error(ErrorKind::unsupported, "", "--stop-latency is measured on the Qwen3-VL presets and folders");
    const auto load_start = std::chrono::steady_clock::now();
    auto model = o.random_preset.empty() ? Model::load(o.model, run.load) : Model::random(preset(o.random_preset, o.layers), run.load, o.seed);
    run.sync();
    const double load_ms = elapsed_ms(load_start);
    const auto& config = model->config();
    if (o.image_width <= 0 || o.image_height <= 0) throw Error(ErrorKind::unsupported, "", "bench of a DeepStack model needs --image WxH");

    // A GPU's first pass also loads kernels and creates library handles: warm up, then time (as for Qwen3-VL).
    double warmup_ms = 0;
    if (run.cuda) {
        const auto warmup_start = std::chrono::steady_clock::now();
        const auto views = make_views(engine::synthetic_image(o.image_width, o.image_height), config,
                                                       clip_preprocessing(o.model, config));
        const auto features = model->encode_image(views);
        std::vector<std::int64_t> ids(static_cast<std::size_t>(features.embeds.size(0)) + 8, 5);
        auto cache = model->new_cache(static_cast<std::int64_t>(ids.size()) + o.new_tokens + 1);
        (void)model->forward(ids, {{&features, 1}}, cache, true)[0].argmax().item<std::int64_t>();
        for (int step = 0; step < o.new_tokens; ++step) (void)model->forward({5}, {}, cache, true)[0].argmax().item<std::int64_t>();
        warmup_ms = elapsed_ms(warmup_start);
        engine::reset_cuda_memory_peak();
    }

    const auto vision_start = std::chrono::steady_clock::now();
    const auto views = make_views(engine::synthetic_image(o.image_width, o.image_height), config,
                                                   clip_preprocessing(o.model, config));
    const auto features = model->encode_image(views);
    run.sync();
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
    const auto time_prefill = [&](const ImageFeatures& image, std::vector<std::int64_t>& ids, nn::KvCache& cache) {
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
        ImageFeatures sequence;
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

    auto j = engine::report_header(run);
    if (o.layers > 0 && !o.random_preset.empty()) j["decoder_layers"] = config.text.num_hidden_layers;
    j["image"] = {{"width", o.image_width}, {"height", o.image_height}, {"grid", {views.grid.columns, views.grid.rows}},
                  {"views", views.pixels.size(0)}, {"tokens", features.embeds.size(0)}, {"stacks", features.stacks.size()}};
    engine::add_timings(j, ids.size(), o.new_tokens, load_ms, vision_ms, prefill_ms, decode_ms);
    if (run.cuda) j["warmup_pass_ms"] = warmup_ms;
    j["stacks_vs_sequence"] = comparison;
    j["peak_rss_bytes"] = peak_rss_bytes();
    engine::add_cuda_memory(j, run.cuda);
    return j.dump(2);
}

}  // namespace deepstack::deepstack_llama

// Attention capture and the stack plan: the probe against softmax(QK^T / sqrt(d)) computed directly (with grouped
// heads, a cache offset and the causal mask, and on the tiny DeepStack-L model's first layer from its weights);
// the plan of every family against its config and against the grouping code that runs; the capture through the
// engine (shapes, rows summing to one, the conversation left exactly as it was, the memory cap, Stop); the heatmap
// of a constructed key landing on that key's part of the picture; the exports.
#include <QtTest>
#include "test_main.h"

#include <cmath>
#include <fstream>
#include <functional>

#include <nlohmann/json.hpp>
#include <ATen/Parallel.h>
#include <torch/types.h>

#include "config/json_fields.h"
#include "deepstack/attention.h"
#include "deepstack/system.h"
#include "deepstack/engine.h"
#include "deepstack/error.h"
#include "deepstack/safetensors.h"
#include "deepstack/stack_plan.h"
#include "models/deepstack_llama/model.h"
#include "models/deepstack_llama/token_layout.h"
#include "nn/attention_probe.h"
#include "nn/blocks.h"
#include "tensor/torch_bridge.h"
#include "prompt_inputs.h"
#include "test_files.h"

namespace test_attention {

using namespace deepstack;
using testing::greedy;
using testing::patterned_picture;

namespace {

const std::filesystem::path kFixtures = testing::data_dir() / "fixtures" / "deepstack";
const std::filesystem::path kConfigs = testing::data_dir() / "configs";

// softmax(q k^T * scale) of one row, in double, with plain loops: the reference the probe must equal.
std::vector<double> direct_row(const torch::Tensor& q /*[D]*/, const torch::Tensor& keys /*[P, D]*/, double scale, std::int64_t visible) {
    const auto qd = q.to(torch::kFloat64), kd = keys.to(torch::kFloat64);
    std::vector<double> scores(static_cast<std::size_t>(visible));
    double top = -1e300;
    for (std::int64_t j = 0; j < visible; ++j) {
        double s = 0;
        for (std::int64_t d = 0; d < q.size(0); ++d) s += qd[d].item<double>() * kd[j][d].item<double>();
        scores[static_cast<std::size_t>(j)] = s * scale;
        top = std::max(top, scores[static_cast<std::size_t>(j)]);
    }
    double sum = 0;
    for (auto& s : scores) sum += (s = std::exp(s - top));
    for (auto& s : scores) s /= sum;
    return scores;
}

std::filesystem::path folder_with(const QTemporaryDir& dir, const std::string& name, const std::filesystem::path& config,
                                  const std::filesystem::path& preprocessor = {}) {
    const auto folder = std::filesystem::path(dir.path().toStdString()) / name;
    std::filesystem::create_directories(folder);
    std::filesystem::copy_file(config, folder / "config.json", std::filesystem::copy_options::overwrite_existing);
    if (!preprocessor.empty())
        std::filesystem::copy_file(preprocessor, folder / "preprocessor_config.json", std::filesystem::copy_options::overwrite_existing);
    return folder;
}

double area(const ImageRegion& r) { return r.empty() ? 0 : (r.right - r.left) * (r.bottom - r.top); }
bool inside(const ImageRegion& inner, const ImageRegion& outer) {
    constexpr double e = 1e-12;
    return inner.left >= outer.left - e && inner.right <= outer.right + e && inner.top >= outer.top - e && inner.bottom <= outer.bottom + e;
}

}  // namespace

class TestAttention : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

private Q_SLOTS:
    void initTestCase() { at::set_num_threads(2); }

    // ---- the probe against the direct computation ------------------------------------------------------------

    void probeEqualsDirectSoftmax() {
        torch::manual_seed(3);
        const std::int64_t heads = 4, kv_heads = 2, d = 8, past = 7, length = 5;
        const auto q = torch::randn({heads, length, d});
        const auto keys = torch::randn({kv_heads, past + length, d}) * 2;
        const double scale = 1.0 / std::sqrt(static_cast<double>(d));
        const std::vector<std::int64_t> rows{past + 1, past + 4};  // a later row sees more keys
        const std::vector<std::int64_t> chosen{0, 2, 3, 9};        // key 9 is visible to row past + 4 only
        nn::AttentionProbe probe(rows, chosen, {3}, heads);
        probe.record(2, q, keys, scale, past);  // another layer: nothing recorded
        QVERIFY(!probe.complete());
        probe.record(3, q, keys, scale, past);
        QVERIFY(probe.complete());
        for (std::size_t r = 0; r < rows.size(); ++r)
            for (std::int64_t h = 0; h < heads; ++h) {
                const auto i = rows[r] - past;
                const auto expected = direct_row(q[h][i], keys[h / (heads / kv_heads)], scale, rows[r] + 1);
                double rest = 1;
                for (std::size_t c = 0; c < chosen.size(); ++c) {
                    const double want = chosen[c] <= rows[r] ? expected[static_cast<std::size_t>(chosen[c])] : 0.0;
                    rest -= want;
                    const auto got = probe.chosen()[((r * 1 + 0) * heads + static_cast<std::size_t>(h)) * chosen.size() + c];
                    QVERIFY2(std::abs(got - want) < 1e-6, qPrintable(QString("row %1 head %2 key %3: %4 vs %5").arg(r).arg(h).arg(chosen[c]).arg(got).arg(want)));
                }
                QVERIFY(std::abs(probe.elsewhere()[r * heads + static_cast<std::size_t>(h)] - rest) < 1e-6);
            }
    }

    // Whatever kernel nn::attention runs (SDPA on LibTorch 2, the math path on 1.13), the captured rows times the
    // values are its output.
    void probeRowsReproduceTheAttentionOutput() {
        torch::manual_seed(5);
        const std::int64_t heads = 6, kv_heads = 3, d = 16, past = 11, length = 40;  // 40 rows: several chunks
        const auto q = torch::randn({heads, length, d});
        const auto keys = torch::randn({kv_heads, past + length, d});
        const auto values = torch::randn({kv_heads, past + length, d});
        const double scale = 1.0 / std::sqrt(static_cast<double>(d));
        std::vector<std::int64_t> rows, every_key;
        for (std::int64_t i = 0; i < length; ++i) rows.push_back(past + i);
        for (std::int64_t j = 0; j < past + length; ++j) every_key.push_back(j);
        nn::AttentionProbe probe(rows, every_key, {0}, heads);
        probe.record(0, q, keys, scale, past);
        const auto probs = torch::tensor(probe.chosen()).view({length, heads, past + length}).transpose(0, 1);  // [H, L, P]
        const auto mixed = torch::matmul(probs, values.repeat_interleave(heads / kv_heads, 0));
        const auto output = nn::attention(q, keys, values, scale, past);
        QVERIFY2((mixed - output).abs().max().item<double>() < 1e-5, "probabilities x values differ from the attention output");
        for (const auto e : probe.elsewhere()) QVERIFY(std::abs(e) < 1e-7);  // every key was chosen
    }

    // The tiny DeepStack-L model's layer 0, recomputed from the checkpoint's weights with none of the core's blocks.
    void modelLayerZeroEqualsItsWeights() {
        c10::InferenceMode inference;
        const auto folder = kFixtures / "deepstack-l";
        const auto model = deepstack_llama::Model::load(folder, {c10::kFloat, c10::Device(c10::kCPU), {}});
        const auto& c = model->config();
        QCOMPARE(c.deepstack_start_id, std::int64_t{1});  // layer 0 sees no stack: its input is embeddings + image
        const auto features = model->encode_image(deepstack_llama::make_views(patterned_picture(40, 30), c, deepstack_llama::clip_preprocessing(folder, c)));
        const auto t = features.embeds.size(0);
        std::vector<std::int64_t> ids{1, 319, 140, 299};
        const std::int64_t offset = static_cast<std::int64_t>(ids.size());
        ids.insert(ids.end(), static_cast<std::size_t>(t), 0);
        for (const std::int64_t id : {13, 218, 338, 278, 301, 399}) ids.push_back(id);
        const auto length = static_cast<std::int64_t>(ids.size());

        std::vector<std::int64_t> rows{offset - 1, offset + t, length - 1}, image_keys;
        for (std::int64_t i = 0; i < t; ++i) image_keys.push_back(offset + i);
        nn::AttentionProbe probe(rows, image_keys, {0, 1}, c.text.num_attention_heads);
        auto cache = model->new_cache(length);
        const deepstack_llama::PlacedImage placed{&features, offset};
        (void)model->forward(ids, {placed}, cache, true, &probe);
        QVERIFY(probe.complete());

        const auto checkpoint = Checkpoint::open(folder);
        const auto w = [&](const std::string& name) { return tensor::to_torch(checkpoint.view(name), torch::kFloat64); };
        auto hidden = w("model.embed_tokens.weight").index_select(0, torch::tensor(ids));
        hidden.narrow(0, offset, t).copy_(features.embeds.to(torch::kFloat64));
        const auto json = config::read_json_file(folder / "config.json");
        const double eps = json.value("rms_norm_eps", 1e-6), theta = json.value("rope_theta", 10000.0);
        const auto x = hidden / torch::sqrt(hidden.pow(2).mean(-1, true) + eps) * w("model.layers.0.input_layernorm.weight");
        const auto heads = c.text.num_attention_heads, kv_heads = c.text.num_key_value_heads, d = c.text.head_dim();
        auto q = torch::matmul(x, w("model.layers.0.self_attn.q_proj.weight").t()).view({length, heads, d});
        auto k = torch::matmul(x, w("model.layers.0.self_attn.k_proj.weight").t()).view({length, kv_heads, d});
        // Rotate-half RoPE at positions 0 .. L-1.
        const auto inv = 1.0 / torch::pow(theta, torch::arange(0, d, 2, torch::kFloat64) / static_cast<double>(d));
        const auto angles = torch::arange(length, torch::kFloat64).unsqueeze(1) * inv.unsqueeze(0);
        const auto cos = torch::cat({angles.cos(), angles.cos()}, -1).unsqueeze(1), sin = torch::cat({angles.sin(), angles.sin()}, -1).unsqueeze(1);
        const auto rotate = [&](const torch::Tensor& v) { return v * cos + torch::cat({-v.narrow(-1, d / 2, d / 2), v.narrow(-1, 0, d / 2)}, -1) * sin; };
        q = rotate(q);
        k = rotate(k);
        double worst = 0;
        for (std::size_t r = 0; r < rows.size(); ++r)
            for (std::int64_t h = 0; h < heads; ++h) {
                const auto expected = direct_row(q[rows[r]][h], k.select(1, h / (heads / kv_heads)), 1.0 / std::sqrt(static_cast<double>(d)), rows[r] + 1);
                for (std::int64_t i = 0; i < t; ++i) {
                    const auto want = offset + i <= rows[r] ? expected[static_cast<std::size_t>(offset + i)] : 0.0;
                    const auto got = probe.chosen()[((r * 2 + 0) * static_cast<std::size_t>(heads) + static_cast<std::size_t>(h)) * static_cast<std::size_t>(t) + static_cast<std::size_t>(i)];
                    worst = std::max(worst, std::abs(got - want));
                }
            }
        QVERIFY2(worst < 1e-5, qPrintable(QString("layer 0 differs from softmax(QK^T/sqrt(d)) by %1").arg(worst)));
        // Row offset - 1 sits before the picture: it cannot see any of it.
        for (std::int64_t h = 0; h < heads; ++h)
            for (std::int64_t i = 0; i < t; ++i) QCOMPARE(probe.chosen()[static_cast<std::size_t>(h * t + i)], 0.0f);
    }

    // ---- the stack plan -----------------------------------------------------------------------------------------

    void qwenPlanFollowsItsConfig_data() {
        QTest::addColumn<QString>("config");
        QTest::addColumn<std::vector<std::int64_t>>("depths");
        QTest::addColumn<std::int64_t>("layers");
        QTest::newRow("2B") << "qwen3-vl-2b-instruct" << std::vector<std::int64_t>{5, 11, 17} << std::int64_t{28};
        QTest::newRow("4B") << "qwen3-vl-4b-instruct" << std::vector<std::int64_t>{5, 11, 17} << std::int64_t{36};
        QTest::newRow("8B") << "qwen3-vl-8b-instruct" << std::vector<std::int64_t>{8, 16, 24} << std::int64_t{36};
    }
    void qwenPlanFollowsItsConfig() {
        QFETCH(QString, config);
        QFETCH(std::vector<std::int64_t>, depths);
        QFETCH(std::int64_t, layers);
        const auto folder = folder_with(dir_, config.toStdString(), kConfigs / (config.toStdString() + ".config.json"),
                                        kConfigs / "qwen3-vl-instruct.preprocessor_config.json");
        const auto plan = stack_plan(folder, 1000, 700);
        QCOMPARE(plan.variant, std::string("Qwen3-VL"));
        QCOMPARE(plan.language_layers, layers);
        // smart_resize(700, 1000, 32) = (704, 992): 22 x 31 merged tokens.
        QCOMPARE(plan.input_rows, std::int64_t{22});
        QCOMPARE(plan.input_columns, std::int64_t{31});
        QCOMPARE(plan.input_tokens(), std::int64_t{22 * 31});
        double covered = 0;
        for (const auto& r : plan.input_regions) covered += area(r);
        QVERIFY(std::abs(covered - 1.0) < 1e-9);
        QCOMPARE(plan.groups.size(), depths.size());
        for (std::size_t k = 0; k < depths.size(); ++k) {
            const auto& g = plan.groups[k];
            QCOMPARE(g.tower, Tower::language);
            QCOMPARE(g.layer, static_cast<std::int64_t>(k));  // after layers 0, 1, 2
            QVERIFY(!g.before_layer);
            QCOMPARE(g.first_layer_seeing_it(), static_cast<std::int64_t>(k + 1));
            QVERIFY2(g.source.find("vision block " + std::to_string(depths[k]) + " ") != std::string::npos, g.source.c_str());
            QCOMPARE(g.regions.size(), plan.input_regions.size());
            QCOMPARE(plan.group_seen_first_at(static_cast<std::int64_t>(k + 1)), &g);
        }
        QCOMPARE(plan.group_seen_first_at(0), nullptr);
        // A pixel budget of the caller's overrides the folder's, as EngineOptions does.
        const auto small = stack_plan(folder, 1000, 700, 0, 256 * 256);
        QVERIFY(small.input_tokens() <= 64);
    }

    void deepStackPlanFollowsItsConfig_data() {
        QTest::addColumn<int>("width");
        QTest::addColumn<int>("height");
        QTest::addColumn<int>("columns");
        QTest::addColumn<int>("rows");
        QTest::newRow("square: 2x2 crops") << 1000 << 1000 << 2 << 2;
        QTest::newRow("banner: 4x1 crops") << 1600 << 300 << 4 << 1;
        QTest::newRow("small 2:1: 1x2 crops, two groups are zero") << 200 << 100 << 1 << 2;
    }
    void deepStackPlanFollowsItsConfig() {
        QFETCH(int, width);
        QFETCH(int, height);
        QFETCH(int, columns);
        QFETCH(int, rows);
        const auto folder = folder_with(dir_, "deepstack-l-7b", kConfigs / "deepstack-l-vicuna-7b.config.json");
        const auto json = config::read_json_file(folder / "config.json");
        const auto plan = stack_plan(folder, width, height);
        QCOMPARE(plan.variant, std::string("DeepStack-L"));
        QCOMPARE(plan.language_layers, std::int64_t{32});
        QCOMPARE(plan.input_tokens(), std::int64_t{576});  // the global view, 24 x 24
        const auto crops = json.value("num_crops", 4);
        QCOMPARE(static_cast<int>(plan.groups.size()), crops);
        const auto start = json.value("deepstack_start_id", 1), interval = json.value("deepstack_interval", 1);
        std::vector<double> covered(static_cast<std::size_t>(rows * 24 * columns * 24), 0);
        for (int k = 0; k < crops; ++k) {
            const auto& g = plan.groups[static_cast<std::size_t>(k)];
            QCOMPARE(g.tower, Tower::language);
            QCOMPARE(g.layer, std::int64_t{start + k * interval});
            QVERIFY(g.before_layer);
            QCOMPARE(g.regions.size(), std::size_t{576});
            if (k >= rows * columns) {  // this picture's grid has fewer crops: the group is zeros
                QVERIFY(!g.ever_added);
                continue;
            }
            QCOMPARE(g.grid_rows, std::int64_t{rows * 24});
            QCOMPARE(g.grid_columns, std::int64_t{columns * 24});
            QCOMPARE(g.offset_row, std::int64_t{k / columns});
            QCOMPARE(g.offset_column, std::int64_t{k % columns});
            for (std::size_t t = 0; t < 576; ++t) {
                // 2-D neighbour sampling: the high-resolution cell lies inside the low-resolution token it joins.
                QVERIFY(inside(g.regions[t], plan.input_regions[t]));
                const auto cell_row = static_cast<std::size_t>(std::lround(g.regions[t].top * static_cast<double>(g.grid_rows)));
                const auto cell_column = static_cast<std::size_t>(std::lround(g.regions[t].left * static_cast<double>(g.grid_columns)));
                covered[cell_row * static_cast<std::size_t>(columns * 24) + cell_column] += 1;
            }
        }
        // Together the groups carry every cell of the crops' map exactly once.
        for (const auto c : covered) QCOMPARE(c, 1.0);
    }

    void deepStackHdAndVPlans() {
        const auto hd = stack_plan(folder_with(dir_, "hd-7b", kConfigs / "deepstack-l-hd-vicuna-7b.config.json"), 1000, 1000);
        QCOMPARE(hd.variant, std::string("DeepStack-L-HD"));
        // Global 24 x 24, then the 2x2 crops' 48 x 48 map with a row-end token on each of its 48 rows.
        QCOMPARE(hd.input_tokens(), std::int64_t{576 + 48 * 49});
        QCOMPARE(hd.groups.size(), std::size_t{4});
        std::int64_t newlines = 0;
        for (const auto& r : hd.input_regions) newlines += r.empty() ? 1 : 0;
        QCOMPARE(newlines, std::int64_t{48});
        for (const auto& g : hd.groups) {
            QCOMPARE(g.regions.size(), hd.input_regions.size());
            for (std::size_t t = 0; t < g.regions.size(); ++t) {
                QCOMPARE(g.regions[t].empty(), hd.input_regions[t].empty());
                if (!g.regions[t].empty()) QVERIFY(inside(g.regions[t], hd.input_regions[t]));
            }
        }

        const auto v = stack_plan(kFixtures / "deepstack-v", 50, 40);
        QCOMPARE(v.variant, std::string("DeepStack-V"));
        QCOMPARE(v.groups.size(), std::size_t{4});
        for (std::size_t k = 0; k < 4; ++k) {
            QCOMPARE(v.groups[k].tower, Tower::vision);
            QCOMPARE(v.groups[k].layer, static_cast<std::int64_t>(1 + k));  // lsvit_start_layer_1
        }
        QCOMPARE(v.group_seen_first_at(1), nullptr);  // nothing is stacked into the language model

        QVERIFY_THROWS_EXCEPTION(Error, stack_plan(kFixtures / "deepstack-l", 0, 10));
        QVERIFY_THROWS_EXCEPTION(Error, stack_plan(dir_.path().toStdString() + "/no-such-folder", 10, 10));
    }

    // The stack plan finds a folder's family as describe and the engine do (models/registry.h): a DeepStack
    // checkpoint named only by its architectures, or a LLaVA re-save, gets the same plan as one that says
    // deepstack_llama; an unknown model_type is refused with the known ones.
    void stackPlanUsesTheFamilyTable() {
        const auto original = config::read_json_file(kConfigs / "deepstack-l-vicuna-7b.config.json");
        const auto reference = stack_plan(folder_with(dir_, "named", kConfigs / "deepstack-l-vicuna-7b.config.json"), 1000, 700);
        const auto write_variant = [&](const std::string& name, const std::function<void(nlohmann::json&)>& change) {
            auto json = original;
            change(json);
            const auto folder = std::filesystem::path(dir_.path().toStdString()) / name;
            std::filesystem::create_directories(folder);
            testing::write_json(folder / "config.json", json);
            return folder;
        };
        const auto by_architecture = write_variant("by-architecture", [](nlohmann::json& j) {
            j.erase("model_type");
            j["architectures"] = {"DeepstackLlamaForCausalLM"};
        });
        const auto llava = write_variant("llava", [](nlohmann::json& j) {
            j["model_type"] = "llava_llama";
            j["image_aspect_ratio"] = "deepstack";
        });
        for (const auto& folder : {by_architecture, llava}) {
            const auto plan = stack_plan(folder, 1000, 700);
            QCOMPARE(plan.variant, reference.variant);
            QCOMPARE(plan.groups.size(), reference.groups.size());
            for (std::size_t k = 0; k < plan.groups.size(); ++k) QCOMPARE(plan.groups[k].layer, reference.groups[k].layer);
        }
        const auto unknown = write_variant("unknown", [](nlohmann::json& j) {
            j["model_type"] = "mystery_vlm";
            j.erase("architectures");
        });
        try {
            (void)stack_plan(unknown, 10, 10);
            QFAIL("an unknown family got a stack plan");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("model_type 'mystery_vlm' is not a family this build knows (known: qwen3_vl, "
                                                "qwen3_vl_moe, deepstack_llama)") != std::string::npos, e.what());
        }
    }

    // The plan against the code that builds the groups: group k's token t is the crops' map cell the plan names.
    void deepStackPlanIsWhatTheModelStacks_data() {
        QTest::addColumn<QString>("variant");
        QTest::addColumn<int>("width");
        QTest::addColumn<int>("height");
        QTest::newRow("square") << "deepstack-l" << 40 << 40;
        QTest::newRow("wide") << "deepstack-l-wide" << 120 << 30;
        QTest::newRow("tall") << "deepstack-l-tall" << 30 << 90;
    }
    void deepStackPlanIsWhatTheModelStacks() {
        QFETCH(QString, variant);
        QFETCH(int, width);
        QFETCH(int, height);
        c10::InferenceMode inference;
        const auto folder = kFixtures / variant.toStdString();
        const auto model = deepstack_llama::Model::load(folder, {c10::kFloat, c10::Device(c10::kCPU), {}});
        const auto& c = model->config();
        const auto views = deepstack_llama::make_views(patterned_picture(width, height), c, deepstack_llama::clip_preprocessing(folder, c));
        const auto features = model->encode_image(views);
        const auto projected = model->project(model->vision_features(views.pixels));  // [1 + crops, g * g, Dt]
        const auto plan = stack_plan(folder, width, height);
        const auto g = c.vision.grid();
        QCOMPARE(plan.input_tokens(), features.embeds.size(0));
        int checked = 0;
        for (std::size_t k = 0; k < plan.groups.size(); ++k) {
            const auto& group = plan.groups[k];
            if (!group.ever_added && k >= static_cast<std::size_t>(views.grid.cells())) {
                QCOMPARE(features.stacks[k].abs().max().item<double>(), 0.0);
                continue;
            }
            for (std::size_t t = 0; t < group.regions.size(); ++t) {
                const auto row = std::lround(group.regions[t].top * static_cast<double>(group.grid_rows));
                const auto column = std::lround(group.regions[t].left * static_cast<double>(group.grid_columns));
                const auto crop = 1 + (row / g) * views.grid.columns + column / g;
                const auto expected = projected[crop][(row % g) * g + column % g];
                QVERIFY2(torch::equal(features.stacks[k][static_cast<std::int64_t>(t)], expected),
                         qPrintable(QString("group %1 token %2 is not cell (%3, %4)").arg(k).arg(t).arg(row).arg(column)));
                ++checked;
            }
        }
        QVERIFY(checked >= 2 * g * g);
    }

    // ---- the capture through the engine ------------------------------------------------------------------------

    void captureThroughTheEngine() {
        EngineOptions options;
        options.threads = 2;
        options.compute = ComputeType::f32;
        options.context_tokens = 1024;
        const auto model = Model::load(kFixtures / "deepstack-l", options);
        const Message question{Message::Role::user, "What is the total?", {patterned_picture(60, 40)}};
        const Message follow_up{Message::Role::user, "And the date?", {}};

        auto plain = model->start_conversation();
        (void)plain->send(question, greedy(6));
        const auto expected_next = plain->send(follow_up, greedy(6));

        auto chat = model->start_conversation();
        QVERIFY_THROWS_EXCEPTION(Error, chat->capture_attention({}));  // nothing asked yet
        const auto answer = chat->send(question, greedy(6));
        const auto context = chat->context_tokens();
        AttentionRequest request;
        const auto capture = chat->capture_attention(request);
        QCOMPARE(chat->context_tokens(), context);
        QCOMPARE(capture.heads, std::int64_t{4});
        QCOMPARE(capture.layers.size(), std::size_t{6});
        QCOMPARE(capture.visual_tokens, answer.image_tokens);
        QCOMPARE(capture.images.size(), std::size_t{1});
        QCOMPARE(capture.images[0].plan.input_tokens(), answer.image_tokens);
        QCOMPARE(capture.images[0].image.width, 60);
        const auto answers = capture.queries_of(AttentionQuery::Kind::answer);
        QCOMPARE(answers.size(), answer.tokens.size());
        for (std::size_t i = 0; i < answers.size(); ++i) QCOMPARE(capture.queries[answers[i]].token, answer.tokens[i]);
        QVERIFY(!capture.queries_of(AttentionQuery::Kind::question).empty());
        QCOMPARE(capture.visual.size(), capture.queries.size() * 6 * 4 * static_cast<std::size_t>(capture.visual_tokens));
        QCOMPARE(capture.bytes(), AttentionCapture::bytes_needed(capture.queries.size(), 6, 4, capture.visual_tokens));
        // Every recorded row is a whole softmax: image + elsewhere = 1, per head.
        const auto width = static_cast<std::size_t>(capture.visual_tokens);
        for (std::size_t cell = 0; cell < capture.elsewhere.size(); ++cell) {
            double sum = capture.elsewhere[cell];
            for (std::size_t v = 0; v < width; ++v) sum += capture.visual[cell * width + v];
            QVERIFY2(std::abs(sum - 1.0) < 1e-5, qPrintable(QString("row %1 sums to %2").arg(cell).arg(sum)));
        }
        const auto [image_share, rest] = capture.shares(answers, 3, {});
        QVERIFY(std::abs(image_share + rest - 1.0) < 1e-5);
        const auto mean = capture.map(answers, 3, {});
        double mean_sum = 0;
        for (const auto v : mean) mean_sum += v;
        QVERIFY(std::abs(mean_sum - image_share) < 1e-5);

        // The conversation goes on exactly as one that was never looked into.
        const auto next = chat->send(follow_up, greedy(6));
        QCOMPARE(next.tokens, expected_next.tokens);
        QCOMPARE(chat->context_tokens(), plain->context_tokens());
        QVERIFY_THROWS_EXCEPTION(Error, chat->capture_attention({true, true, {6}, request.memory_cap_bytes}));  // no layer 6
    }

    void captureRefusesOverTheCapAndStops() {
        EngineOptions options;
        options.threads = 2;
        options.compute = ComputeType::f32;
        options.context_tokens = 1024;
        const auto model = Model::load(kFixtures / "deepstack-l", options);
        auto chat = model->start_conversation();
        const Message question{Message::Role::user, "What is the total?", {patterned_picture(60, 40)}};
        (void)chat->send(question, greedy(5));
        try {
            (void)chat->capture_attention({true, true, {}, 1000});
            QFAIL("a capture over the cap was not refused");
        } catch (const Error& e) {
            QCOMPARE(e.kind(), ErrorKind::resources);
            QVERIFY2(std::string(e.what()).find("over the cap") != std::string::npos, e.what());
        }
        std::atomic<bool> stop{true};
        try {
            (void)chat->capture_attention({}, &stop);
            QFAIL("a stopped capture returned");
        } catch (const Error& e) {
            QCOMPARE(e.kind(), ErrorKind::cancelled);
        }
        {
            const ScopedAvailableMemory scarce(1);  // a machine with no memory free: refused before recording
            try {
                (void)chat->capture_attention({});
                QFAIL("a capture larger than the free memory was not refused");
            } catch (const Error& e) {
                QCOMPARE(e.kind(), ErrorKind::resources);
                QVERIFY2(std::string(e.what()).find("of memory is available") != std::string::npos, e.what());
            }
        }
        // None left a trace: one layer's capture still works and the chat goes on as a fresh one would.
        const auto one = chat->capture_attention({false, true, {2}, 1 << 20});
        QCOMPARE(one.layers, std::vector<std::int64_t>{2});
        auto fresh = model->start_conversation();
        (void)fresh->send(question, greedy(5));
        QCOMPARE(chat->send({Message::Role::user, "Why?", {}}, greedy(5)).tokens, fresh->send({Message::Role::user, "Why?", {}}, greedy(5)).tokens);
        // That last question had no picture: nothing to draw over, and the error says what to do.
        try {
            (void)chat->capture_attention({});
            QFAIL("a capture of a question without a picture was not refused");
        } catch (const Error& e) {
            QCOMPARE(e.kind(), ErrorKind::config);
            QVERIFY2(std::string(e.what()).find("no picture") != std::string::npos, e.what());
        }
    }

    // ---- the heatmap ---------------------------------------------------------------------------------------------

    // A constructed key: the probe's rows over a DeepStack-L picture where one token's key is the query itself,
    // scaled. The heatmap's brightest pixels fall in that token's part of the picture, on the input grid and on
    // the high-resolution cell a stacked group carries there.
    void heatmapPeaksOnTheConstructedKey() {
        const auto folder = folder_with(dir_, "deepstack-l-7b-heat", kConfigs / "deepstack-l-vicuna-7b.config.json");
        AttentionImage image;
        image.plan = stack_plan(folder, 480, 360);
        // A plain grey page: where no token is drawn it stays darker than the scale's brightest colour.
        image.image = RgbImage{480, 360, std::vector<std::uint8_t>(480 * 360 * 3, 100)};
        const auto tokens = image.plan.input_tokens();
        const std::int64_t target = 24 * 17 + 5, heads = 2, d = 16, text = 3;
        torch::manual_seed(11);
        const auto q = torch::randn({heads, 1, d});
        auto keys = torch::randn({heads, text + tokens + 1, d}) * 0.1;
        keys.select(1, text + target).copy_(q.select(1, 0) * 4);  // the key that answers the query
        std::vector<std::int64_t> image_keys;
        for (std::int64_t i = 0; i < tokens; ++i) image_keys.push_back(text + i);
        nn::AttentionProbe probe({text + tokens}, image_keys, {0}, heads);
        probe.record(0, q, keys, 0.25, text + tokens);

        AttentionCapture capture;
        capture.heads = heads;
        capture.layers = {0};
        capture.queries = {{AttentionQuery::Kind::answer, text + tokens, 0, "x"}};
        capture.visual_tokens = tokens;
        capture.visual = probe.chosen();
        capture.elsewhere = probe.elsewhere();
        capture.images = {image};
        const auto values = capture.map(capture.all_queries(), 0, {});
        QCOMPARE(static_cast<std::int64_t>(std::max_element(values.begin(), values.end()) - values.begin()), target);

        const auto brightest = [](const RgbImage& heat) {
            // The scale's top colour is pale yellow: find the pixel with the most green (dark violet has little).
            std::pair<int, int> best{0, 0};
            int best_green = -1;
            for (int y = 0; y < heat.height; ++y)
                for (int x = 0; x < heat.width; ++x) {
                    const int g = heat.pixels[static_cast<std::size_t>((y * heat.width + x) * 3 + 1)];
                    if (g > best_green) best_green = g, best = {x, y};
                }
            return best;
        };
        HeatmapOptions opaque;
        opaque.opacity = 1.0;
        const auto on_input = render_heatmap(image, values, opaque);
        QCOMPARE(on_input.width, 480);
        const auto [x, y] = brightest(on_input);
        QVERIFY2(image.plan.input_regions[static_cast<std::size_t>(target)].contains((x + 0.5) / 480.0, (y + 0.5) / 360.0),
                 qPrintable(QString("brightest pixel (%1, %2) is outside token %3").arg(x).arg(y).arg(target)));
        opaque.group = 1;
        const auto on_group = render_heatmap(image, values, opaque);
        const auto [gx, gy] = brightest(on_group);
        const auto& cell = image.plan.groups[1].regions[static_cast<std::size_t>(target)];
        QVERIFY(cell.contains((gx + 0.5) / 480.0, (gy + 0.5) / 360.0));
        QVERIFY(area(cell) < area(image.plan.input_regions[static_cast<std::size_t>(target)]));
        // Pixels no group-1 cell covers keep the picture.
        QCOMPARE(on_group.pixels[0], image.image.pixels[0]);

        // The exports open and hold the numbers.
        const auto dir = std::filesystem::path(dir_.path().toStdString());
        save_png(on_input, dir / "heat.png");
        const auto reread = load_image(dir / "heat.png");
        QCOMPARE(reread.pixels, on_input.pixels);
        const std::vector<std::size_t> first{0};
        const auto json = nlohmann::json::parse(attention_json(capture, capture.all_queries(), first));
        QCOMPARE(json.at("layers")[0].at("heads").at("mean").at("visual").size(), static_cast<std::size_t>(tokens));
        QVERIFY(std::abs(json.at("layers")[0].at("heads").at("mean").at("visual")[static_cast<std::size_t>(target)].get<double>() - values[static_cast<std::size_t>(target)]) < 1e-6);
        QCOMPARE(json.at("images")[0].at("plan").at("groups").size(), std::size_t{4});
        const auto csv = attention_csv(capture, capture.all_queries(), first);
        QCOMPARE(std::count(csv.begin(), csv.end(), '\n'), static_cast<std::ptrdiff_t>(1 + (2 + heads) * tokens));
        QVERIFY_THROWS_EXCEPTION(Error, save_png(on_input, dir / "no-such-folder" / "heat.png"));
        QVERIFY_THROWS_EXCEPTION(Error, (void)capture.map(first, 1, {}));
    }

    void colourScaleRunsDarkToLight() {
        const auto luminance = [](std::array<std::uint8_t, 3> c) { return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]; };
        double previous = -1;
        for (int i = 0; i <= 20; ++i) {
            const auto l = luminance(heat_colour(i / 20.0));
            QVERIFY(l > previous);
            previous = l;
        }
        QCOMPARE(heat_colour(-3), heat_colour(0));
        QCOMPARE(heat_colour(7), heat_colour(1));
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestAttention)

}  // namespace test_attention
#include "test_attention.moc"

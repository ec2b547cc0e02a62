// The DeepStack LLaVA family (DeepStack-L, -L-HD, -V) against the authors' own computation
// (tests/reference/make_deepstack_fixture.py runs their preprocessing, grouping and DeepStack-V code on
// transformers' CLIP and LLaMA): views, image tokens, every stacked group, the prompt ids, prefill logits and 32
// greedy decode steps with the KV cache, in fp32 (on the GPU with DEEPSTACK_TEST_DEVICE=cuda).
#include <QtTest>
#include "test_main.h"

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "config/json_fields.h"
#include "deepstack/error.h"
#include "deepstack/image.h"
#include "deepstack/safetensors.h"
#include "deepstack/tokenizer.h"
#include "models/deepstack_llama/architecture.h"
#include "models/deepstack_llama/model.h"
#include "nn/stack_edit.h"
#include "models/deepstack_llama/runtime.h"
#include "tensor/torch_bridge.h"
#include "test_device.h"
#include "test_files.h"

namespace test_deepstack_llama {

using namespace deepstack;
using deepstack_llama::candidate_grids;
using deepstack_llama::clip_preprocessing;
using deepstack_llama::make_views;
using deepstack_llama::render_vicuna_turn;
using deepstack_llama::select_grid;

namespace {
const auto kFixtures = testing::data_dir() / "fixtures" / "deepstack";
constexpr std::int64_t kSentinel = -200;  // the authors' IMAGE_TOKEN_INDEX in the reference ids

nlohmann::json cases() {
    std::ifstream in(kFixtures / "cases.json");
    return nlohmann::json::parse(in);
}

double max_difference(const torch::Tensor& a, const torch::Tensor& b) {
    return (a.to(torch::kCPU, torch::kFloat64) - b.to(torch::kCPU, torch::kFloat64)).abs().max().item<double>();
}

// The turn's ids as the engine builds them: BOS, each chunk around <image> encoded on its own, the sentinel.
std::vector<std::int64_t> prompt_ids(const Tokenizer& tokenizer, const std::string& text) {
    std::vector<std::int64_t> ids{1};
    const auto at = text.find("<image>");
    for (const auto id : tokenizer.encode(text.substr(0, at))) ids.push_back(id);
    ids.push_back(kSentinel);
    for (const auto id : tokenizer.encode(text.substr(at + 7))) ids.push_back(id);
    return ids;
}
}  // namespace

class TestDeepStackLlama : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { torch::manual_seed(0); }

    // The authors' choice for each case, computed by tests/reference/make_best_grid_table.py with their
    // select_best_resolution over get_possible_resolutions_by_crops(num_crops, crop).
    void bestGrid_data() {
        QTest::addColumn<int>("numCrops");
        QTest::addColumn<int>("crop");
        QTest::addColumn<int>("width");
        QTest::addColumn<int>("height");
        QTest::addColumn<int>("columns");
        QTest::addColumn<int>("rows");
        const auto table = nlohmann::json::parse(std::ifstream(testing::data_dir() / "fixtures" / "deepstack" / "best-grid.json"));
        QVERIFY(table.at("cases").size() >= 40);
        for (const auto& c : table.at("cases")) {
            const auto name = c.at("name").get<std::string>() + ", " + std::to_string(c.at("num_crops").get<int>()) + " crops of " + std::to_string(c.at("crop").get<int>());
            QTest::newRow(name.c_str()) << c.at("num_crops").get<int>() << c.at("crop").get<int>() << c.at("width").get<int>() << c.at("height").get<int>()
                                        << c.at("columns").get<int>() << c.at("rows").get<int>();
        }
    }
    void bestGrid() {
        QFETCH(int, numCrops);
        QFETCH(int, crop);
        QFETCH(int, width);
        QFETCH(int, height);
        QFETCH(int, columns);
        QFETCH(int, rows);
        const auto grid = select_grid(width, height, candidate_grids(numCrops), crop);
        QCOMPARE(grid.columns, std::int64_t{columns});
        QCOMPARE(grid.rows, std::int64_t{rows});
    }

    void candidateOrderIsTheAuthors() {
        const auto grids = candidate_grids(4);
        const std::vector<std::pair<std::int64_t, std::int64_t>> expected{{1, 2}, {1, 3}, {1, 4}, {2, 1}, {2, 2}, {3, 1}, {4, 1}};
        QCOMPARE(grids.size(), expected.size());
        for (std::size_t i = 0; i < grids.size(); ++i) {
            QCOMPARE(grids[i].columns, expected[i].first);
            QCOMPARE(grids[i].rows, expected[i].second);
        }
    }

    // The authors' conv_vicuna_v1, rendered by their conversation.py.
    void vicunaTemplate() {
        const auto v = cases().at("vicuna_v1");
        const auto question = v.at("question").get<std::string>();
        const std::string system = deepstack_llama::Config{}.vicuna_system_prompt;  // the authors' line, by default
        QCOMPARE(render_vicuna_turn(system, true, 1, question), v.at("one_turn").get<std::string>());
        const auto two = render_vicuna_turn(system, true, 1, question) + " " + v.at("reply").get<std::string>() + "</s>" +
                         render_vicuna_turn(system, false, 0, v.at("second_question").get<std::string>());
        QCOMPARE(two, v.at("two_turns").get<std::string>());
        // A model whose config.json sets vicuna_system_prompt to "" opens with the user's turn.
        auto json = nlohmann::json::parse(std::ifstream(kFixtures / "deepstack-l" / "config.json"));
        QCOMPARE(deepstack_llama::parse_config(config::Fields(json, "config.json")).vicuna_system_prompt, system);
        json["vicuna_system_prompt"] = "";
        const auto silent = deepstack_llama::parse_config(config::Fields(json, "config.json")).vicuna_system_prompt;
        QCOMPARE(render_vicuna_turn(silent, true, 1, question), "USER: <image>\n" + question + " ASSISTANT:");
    }

    void matchesTheAuthors_data() {
        QTest::addColumn<std::string>("variant");
        const auto all = cases();
        for (const auto& [name, _] : all.at("variants").items()) QTest::newRow(name.c_str()) << name;
    }
    void matchesTheAuthors() {
        QFETCH(std::string, variant);
        const auto info = cases().at("variants").at(variant);
        const auto folder = kFixtures / variant;
        const auto reference = SafetensorsFile::open(folder / "reference.safetensors");
        const auto ref = [&](const std::string& name) { return tensor::to_torch(reference.view(name)).to(torch::kFloat32); };
        c10::InferenceMode inference;
        const auto model = deepstack_llama::Model::load(folder, {c10::kFloat, testing::compute_device(), {}});
        const auto& config = model->config();

        // Views: Pillow's resampling, the grid, the crop order, CLIP normalisation.
        const auto views = make_views(load_image(kFixtures / info.at("image").get<std::string>()), config, clip_preprocessing(folder, config));
        QCOMPARE(views.grid.columns, info.at("grid")[0].get<std::int64_t>());
        QCOMPARE(views.grid.rows, info.at("grid")[1].get<std::int64_t>());
        QCOMPARE(views.pixels.sizes().vec(), ref("pixel_values").sizes().vec());
        for (std::int64_t v = 0; v < views.pixels.size(0); ++v)
            QVERIFY2(max_difference(views.pixels[v], ref("pixel_values")[v]) < 1e-5,
                     qPrintable(QString("view %1: pixel values differ by %2").arg(v).arg(max_difference(views.pixels[v], ref("pixel_values")[v]))));

        // Image tokens and the stacked groups.
        const auto features = model->encode_image(views);
        QCOMPARE(features.embeds.sizes().vec(), ref("image_embeds").sizes().vec());
        QVERIFY2(max_difference(features.embeds, ref("image_embeds")) < 1e-4, "image tokens differ");
        QCOMPARE(static_cast<int>(features.stacks.size()), info.at("stacks").get<int>());
        for (std::size_t k = 0; k < features.stacks.size(); ++k)
            QVERIFY2(max_difference(features.stacks[k], ref("stack." + std::to_string(k))) < 1e-4,
                     qPrintable(QString("stack %1 differs").arg(k)));

        // The prompt: vicuna_v1, chunks around <image> tokenized separately, BOS on the first only.
        const auto tokenizer = Tokenizer::load(folder);
        const auto ids = prompt_ids(*tokenizer, render_vicuna_turn(deepstack_llama::kVicunaSystemPrompt, true, 1, info.at("question").get<std::string>()));
        const auto expected_ids = tensor::to_torch(reference.view("input_ids"));
        QCOMPARE(static_cast<std::int64_t>(ids.size()), expected_ids.size(0));
        for (std::size_t i = 0; i < ids.size(); ++i) QCOMPARE(ids[i], expected_ids[static_cast<std::int64_t>(i)].item<std::int64_t>());

        // Prefill with the image spliced at the sentinel, then 32 greedy steps on the cache.
        const auto at = static_cast<std::int64_t>(std::find(ids.begin(), ids.end(), kSentinel) - ids.begin());
        std::vector<std::int64_t> sequence(ids.begin(), ids.begin() + at);
        sequence.insert(sequence.end(), static_cast<std::size_t>(features.embeds.size(0)), 0);
        sequence.insert(sequence.end(), ids.begin() + at + 1, ids.end());
        auto cache = model->new_cache(static_cast<std::int64_t>(sequence.size()) + 40);
        auto logits = model->forward(sequence, {{&features, at}}, cache, true)[0];
        const double prefill_error = max_difference(logits, ref("prefill_logits_last"));
        QVERIFY2(prefill_error <= 1e-4, qPrintable(QString("prefill logits differ by %1").arg(prefill_error)));

        // Stack ablation against the authors' computation with one group's features zeroed
        // (make_deepstack_ablation_fixture.py; the DeepStack-L variants, whose groups enter the language model).
        if (std::filesystem::exists(folder / "ablation.safetensors")) {
            const auto ablation = SafetensorsFile::open(folder / "ablation.safetensors");
            int checked = 0;
            for (std::int64_t k = 0; k < static_cast<std::int64_t>(features.stacks.size()); ++k) {
                const auto name = "without." + std::to_string(k) + ".prefill_logits_last";
                if (!ablation.contains(name)) continue;
                nn::StackEdit edit({k}, false);
                auto fresh = model->new_cache(static_cast<std::int64_t>(sequence.size()) + 1);
                const auto without = model->forward(sequence, {{&features, at}}, fresh, true, nullptr, &edit)[0];
                const auto expected = tensor::to_torch(ablation.view(name)).to(torch::kFloat32);
                QVERIFY2(max_difference(without, expected) <= 1e-4, qPrintable(QString("without group %1: logits differ by %2").arg(k).arg(max_difference(without, expected))));
                QVERIFY(max_difference(expected, ref("prefill_logits_last")) > 1e-3);  // the group matters, so this can fail
                ++checked;
            }
            QVERIFY(checked >= 3);
        } else {
            QCOMPARE(variant, std::string("deepstack-v"));  // the only variant without one: its groups join in the tower
        }

        const auto expected_tokens = tensor::to_torch(reference.view("greedy_tokens"));
        const auto step_logits = ref("decode_logits");
        double worst = 0;
        for (std::int64_t step = 0; step < expected_tokens.size(0); ++step) {
            const auto token = logits.argmax().item<std::int64_t>();
            QCOMPARE(token, expected_tokens[step].item<std::int64_t>());
            logits = model->forward({token}, {}, cache, true)[0];
            worst = std::max(worst, max_difference(logits, step_logits[step]));
        }
        QVERIFY2(worst <= 1e-4, qPrintable(QString("decode logits differ by %1").arg(worst)));
        qInfo("%s: prefill %.2e, decode %.2e max abs logit difference", variant.c_str(), prefill_error, worst);
    }

    // The stacks matter: without them the prefill is another computation (so the parity above can fail).
    void stacksChangeTheLogits() {
        const auto folder = kFixtures / "deepstack-l";
        const auto info = cases().at("variants").at("deepstack-l");
        c10::InferenceMode inference;
        const auto model = deepstack_llama::Model::load(folder, {c10::kFloat, c10::Device(c10::kCPU), {}});
        const auto views = make_views(load_image(kFixtures / info.at("image").get<std::string>()), model->config(),
                                      clip_preprocessing(folder, model->config()));
        auto features = model->encode_image(views);
        const std::vector<std::int64_t> ids(40, 5);
        auto cache = model->new_cache(64);
        const auto with = model->forward(ids, {{&features, 10}}, cache, true);
        features.stacks.clear();
        auto fresh = model->new_cache(64);
        const auto without = model->forward(ids, {{&features, 10}}, fresh, true);
        QVERIFY(max_difference(with, without) > 1e-2);
    }

    // Our optional projector fields (the demo model's): an RMSNorm after the projector puts every image token and
    // stacked group at the scale of its gain, and each group gets its own learned vector; both absent from the
    // authors' checkpoints, which therefore load unchanged (the parity above).
    void projectorNormAndGroupEmbedding() {
        const auto folder = kFixtures / "deepstack-l";
        const auto info = cases().at("variants").at("deepstack-l");
        auto json = nlohmann::json::parse(std::ifstream(folder / "config.json"));
        json["mm_projector_norm"] = true;
        json["deepstack_group_embedding"] = true;
        const auto config = deepstack_llama::parse_config(config::Fields(json, "config.json"));
        c10::InferenceMode inference;
        const auto model = deepstack_llama::Model::random(config, {c10::kFloat, c10::Device(c10::kCPU), {}}, 3);
        torch::Tensor gain, embedding;
        for (const auto& [name, tensor] : model->named_weights()) {
            if (name == "model.mm_projector_norm.weight") gain = tensor;
            if (name == "model.deepstack_group_embedding") embedding = tensor;
        }
        QVERIFY(gain.defined() && embedding.defined());
        QCOMPARE(embedding.sizes().vec(), (std::vector<std::int64_t>{config.num_crops, config.text.hidden_size}));
        gain.fill_(2.0);
        embedding.zero_();
        const auto views = make_views(load_image(kFixtures / info.at("image").get<std::string>()), config, clip_preprocessing(folder, config));
        const auto plain = model->encode_image(views);
        const auto rms = plain.embeds.pow(2).mean(-1).sqrt();
        // (RMSNorm's epsilon takes a little off the smallest tokens of a random projector.)
        QVERIFY2((rms - 2.0).abs().max().item<double>() < 0.05, qPrintable(QString::number(rms.min().item<double>())));
        for (std::int64_t k = 0; k < embedding.size(0); ++k) embedding[k].fill_(static_cast<double>(k + 1));
        const auto marked = model->encode_image(views);
        QCOMPARE(marked.stacks.size(), plain.stacks.size());
        for (std::size_t k = 0; k < marked.stacks.size(); ++k)
            QVERIFY(((marked.stacks[k] - plain.stacks[k]) - static_cast<double>(k + 1)).abs().max().item<double>() < 1e-5);
        QVERIFY(max_difference(marked.embeds, plain.embeds) == 0.0);  // the input tokens carry no group's vector

        // A folder whose config asks for them but whose weights lack them is refused, naming the tensors.
        const auto names = [](const models::ArchitectureDescription& d) {
            std::set<std::string> out;
            for (const auto& t : d.tensors) out.insert(t.name);
            return out;
        };
        const auto declared = names(deepstack_llama::describe(config));
        QVERIFY(declared.contains("model.mm_projector_norm.weight") && declared.contains("model.deepstack_group_embedding"));
        const auto authors = names(deepstack_llama::describe(deepstack_llama::parse_config(
            config::Fields(nlohmann::json::parse(std::ifstream(folder / "config.json")), "config.json"))));
        QVERIFY(!authors.contains("model.mm_projector_norm.weight") && !authors.contains("model.deepstack_group_embedding"));
    }

    void brokenFolderNamesTheTensor() {
        QTemporaryDir dir;
        const std::filesystem::path copy = dir.path().toStdString();
        for (const auto& entry : std::filesystem::directory_iterator(kFixtures / "deepstack-l"))
            std::filesystem::copy_file(entry.path(), copy / entry.path().filename());
        // A preprocessor whose crops the vision tower cannot take.
        auto pre = nlohmann::json::parse(std::ifstream(copy / "preprocessor_config.json"));
        pre["crop_size"] = {{"height", 56}, {"width", 56}};
        std::ofstream(copy / "preprocessor_config.json") << pre.dump();
        try {
            (void)clip_preprocessing(copy, deepstack_llama::Model::load(copy, {c10::kFloat, c10::Device(c10::kCPU), {}})->config());
            QFAIL("a crop size the vision tower cannot take was accepted");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find((copy / "preprocessor_config.json").string() + ": crop_size 56 differs") == 0, e.what());
        }
        // A config that promises a narrower MLP than the file holds.
        auto config = nlohmann::json::parse(std::ifstream(copy / "config.json"));
        config["intermediate_size"] = 96;
        std::ofstream(copy / "config.json") << config.dump();
        try {
            (void)deepstack_llama::Model::load(copy, {c10::kFloat, c10::Device(c10::kCPU), {}});
            QFAIL("a mismatched projector was accepted");
        } catch (const Error& e) {
            const std::string message = e.what();
            QVERIFY2(message.find("model.layers.0.mlp.gate_proj.weight") != std::string::npos, e.what());
            QVERIFY2(message.find("[96, 64]") != std::string::npos && message.find("[128, 64]") != std::string::npos, e.what());
        }
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestDeepStackLlama)

}  // namespace test_deepstack_llama
#include "test_deepstack_llama.moc"

// Typed configs from the real config.json texts of Qwen3-VL 2B/4B/8B-Instruct and the DeepStack-L checkpoints:
// they parse, and the parameter counts their tensor lists imply equal the published ones.
#include <QtTest>
#include "test_main.h"

#include <cmath>

#include "config/json_fields.h"
#include "deepstack/error.h"
#include "deepstack/model_folder.h"
#include "models/deepstack_llama/architecture.h"
#include "models/qwen3_vl/architecture.h"
#include "models/registry.h"
#include "test_files.h"

namespace test_model_configs {

using namespace deepstack;
using deepstack::config::Fields;
using deepstack::config::Json;

namespace {

Json load(const std::string& name) { return config::read_json_file(testing::data_dir() / "configs" / name); }

std::map<std::string, std::int64_t> count_by_part(const models::ArchitectureDescription& arch) {
    std::map<std::string, std::int64_t> parts;
    for (const auto& spec : arch.tensors)
        if (!spec.optional) parts[spec.part] += shape_numel(spec.shape);
    return parts;
}

std::int64_t total(const std::map<std::string, std::int64_t>& parts) {
    std::int64_t sum = 0;
    for (const auto& [part, count] : parts) sum += count;
    return sum;
}

// Rounds like the published figures: `value` in units of `unit`, to `digits` decimals.
double rounded(double value, double unit, int digits) {
    const double scale = std::pow(10.0, digits);
    return std::round(value / unit * scale) / scale;
}

}  // namespace

class TestModelConfigs : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void qwen3vlPublishedSizes_data() {
        QTest::addColumn<std::string>("file");
        QTest::addColumn<int>("layers");
        QTest::addColumn<int>("hidden");
        QTest::addColumn<bool>("tied");
        QTest::addColumn<QList<int>>("taps");
        QTest::addColumn<double>("billions");  // total parameters, as published (4 decimals)
        QTest::addColumn<double>("gigabytes");  // bf16 weights, as published (3 decimals); 0 = not published
        QTest::newRow("2B") << std::string("qwen3-vl-2b-instruct.config.json") << 28 << 2048 << true << QList<int>{5, 11, 17} << 2.1275 << 4.255;
        QTest::newRow("4B") << std::string("qwen3-vl-4b-instruct.config.json") << 36 << 2560 << true << QList<int>{5, 11, 17} << 4.4378 << 8.876;
        QTest::newRow("8B") << std::string("qwen3-vl-8b-instruct.config.json") << 36 << 4096 << false << QList<int>{8, 16, 24} << 8.7671 << 0.0;
    }
    void qwen3vlPublishedSizes() {
        QFETCH(std::string, file);
        QFETCH(int, layers);
        QFETCH(int, hidden);
        QFETCH(bool, tied);
        QFETCH(QList<int>, taps);
        QFETCH(double, billions);
        QFETCH(double, gigabytes);
        const auto json = load(file);
        const auto config = qwen3_vl::parse_config(Fields(json, file));
        QCOMPARE(config.text.num_hidden_layers, layers);
        QCOMPARE(config.text.hidden_size, hidden);
        QCOMPARE(config.tie_word_embeddings, tied);
        QCOMPARE(config.text.mrope_section, (std::vector<std::int64_t>{24, 20, 20}));
        QCOMPARE(config.text.rope_theta, 5'000'000.0);
        QCOMPARE(config.image_token_id, std::int64_t{151655});
        QVERIFY(qwen3_vl::check_config(config).empty());

        const auto arch = qwen3_vl::describe(config);
        QCOMPARE(arch.deepstack_plan.size(), std::size_t{3});
        for (int k = 0; k < 3; ++k) {
            QCOMPARE(arch.deepstack_plan[k].target_layer, k);
            QVERIFY(arch.deepstack_plan[k].source.starts_with("vision block " + std::to_string(taps[k]) + " "));
        }
        const auto parts = count_by_part(arch);
        QCOMPARE(rounded(static_cast<double>(total(parts)), 1e9, 4), billions);
        if (gigabytes > 0) QCOMPARE(rounded(2.0 * static_cast<double>(total(parts)), 1e9, 3), gigabytes);
    }

    void qwen3vl8bPartsMatchThePublishedSplit() {
        // Hub page of Qwen3-VL-8B-Instruct: "Total 8.767B, ViT 576.4M, LM 8.191B" (ViT includes the mergers).
        const auto json = load("qwen3-vl-8b-instruct.config.json");
        const auto parts = count_by_part(qwen3_vl::describe(qwen3_vl::parse_config(Fields(json, "8b"))));
        QCOMPARE(rounded(static_cast<double>(parts.at("vision tower") + parts.at("mergers")), 1e6, 1), 576.4);
        QCOMPARE(rounded(static_cast<double>(parts.at("language model")), 1e9, 3), 8.191);
    }

    void qwen3vlTransformers5RopeParameters() {
        auto json = load("qwen3-vl-2b-instruct.config.json");
        auto& text = json["text_config"];
        text.erase("rope_scaling");
        text.erase("rope_theta");
        text["rope_parameters"] = {{"mrope_interleaved", true}, {"mrope_section", {24, 20, 20}}, {"rope_theta", 5000000}, {"rope_type", "default"}};
        const auto config = qwen3_vl::parse_config(Fields(json, "config.json"));
        QCOMPARE(config.text.rope_theta, 5'000'000.0);
        QCOMPARE(config.text.mrope_section, (std::vector<std::int64_t>{24, 20, 20}));
    }

    void qwen3vlConfigErrors_data() {
        QTest::addColumn<std::string>("pointer");  // JSON pointer to change
        QTest::addColumn<std::string>("value");    // JSON text, or "-" to delete
        QTest::addColumn<std::string>("expected");
        QTest::newRow("no text_config") << std::string("/text_config") << std::string("-") << std::string("config.json: text_config: missing");
        QTest::newRow("layers as text") << std::string("/text_config/num_hidden_layers") << std::string("\"28\"")
                                        << std::string("text_config.num_hidden_layers: expected an integer, found string \"28\"");
        QTest::newRow("fractional heads") << std::string("/vision_config/num_heads") << std::string("15.5")
                                          << std::string("vision_config.num_heads: expected an integer, found number 15.5");
        QTest::newRow("huge float layers") << std::string("/text_config/num_hidden_layers") << std::string("1e300")
                                           << std::string("text_config.num_hidden_layers: expected an integer, found number");
        QTest::newRow("absurd layers") << std::string("/text_config/num_hidden_layers") << std::string("1000000000000")
                                       << std::string("text_config.num_hidden_layers: is 1000000000000; a model this app reads has between 0 and 1024");
        QTest::newRow("negative width") << std::string("/vision_config/hidden_size") << std::string("-1024")
                                        << std::string("vision_config.hidden_size: is -1024");
        QTest::newRow("no rope") << std::string("/text_config/rope_scaling") << std::string("-") << std::string("Qwen3-VL needs mrope_section");
        // Found by fuzz_config: an empty list read its first element (a null dereference).
        QTest::newRow("empty eos list") << std::string("/text_config/eos_token_id") << std::string("[]")
                                        << std::string("text_config.eos_token_id: expected an integer or a non-empty list");
    }
    void qwen3vlConfigErrors() {
        QFETCH(std::string, pointer);
        QFETCH(std::string, value);
        QFETCH(std::string, expected);
        auto json = load("qwen3-vl-2b-instruct.config.json");
        const Json::json_pointer at(pointer);
        if (value == "-") json[at.parent_pointer()].erase(at.back());
        else json[at] = Json::parse(value);
        try {
            (void)qwen3_vl::parse_config(Fields(json, "config.json"));
            QFAIL("parse_config accepted a broken config");
        } catch (const Error& e) {
            QCOMPARE(e.kind(), ErrorKind::config);
            QVERIFY2(std::string(e.what()).find(expected) != std::string::npos, e.what());
        }
    }

    void qwen3vlInconsistentConfig() {
        auto json = load("qwen3-vl-2b-instruct.config.json");
        json["text_config"]["rope_scaling"]["mrope_section"] = {24, 20, 10};
        json["vision_config"]["deepstack_visual_indexes"] = {5, 11, 30};
        const auto problems = qwen3_vl::check_config(qwen3_vl::parse_config(Fields(json, "config.json")));
        QCOMPARE(problems.size(), std::size_t{2});
        QVERIFY(problems[0].find("summing to 54") != std::string::npos);
        QVERIFY(problems[1].find("holds 30, outside the 24 vision blocks") != std::string::npos);
    }

    // Found by fuzz_config: entries near the int64 limit overflowed the sum (undefined behaviour) before the check.
    void qwen3vlHugeMropeSectionIsAProblemNotAnOverflow() {
        auto json = load("qwen3-vl-2b-instruct.config.json");
        json["text_config"]["rope_scaling"]["mrope_section"] = {INT64_MAX, INT64_MAX, 1};
        const auto problems = qwen3_vl::check_config(qwen3_vl::parse_config(Fields(json, "config.json")));
        QCOMPARE(problems.size(), std::size_t{1});
        QVERIFY2(problems[0].find("mrope_section entries must lie in 0..4096, found 9223372036854775807") != std::string::npos, problems[0].c_str());
    }

    void qwen3vlGenerationAndPreprocessor() {
        const auto g = read_generation_config(testing::data_dir() / "configs" / "qwen3-vl-instruct.generation_config.json");
        QCOMPARE(g.eos_token_ids, (std::vector<std::int64_t>{151645, 151643}));
        QCOMPARE(*g.top_k, std::int64_t{20});
        QCOMPARE(*g.top_p, 0.8);
        QCOMPARE(*g.temperature, 0.7);
        QVERIFY(g.do_sample);
        const auto p = read_preprocessor_config(testing::data_dir() / "configs" / "qwen3-vl-instruct.preprocessor_config.json");
        QCOMPARE(p.min_pixels, std::int64_t{65536});
        QCOMPARE(p.max_pixels, std::int64_t{16777216});
        QCOMPARE(p.patch_size, std::int64_t{16});
        QCOMPARE(p.merge_size, std::int64_t{2});
        QCOMPARE(p.image_mean[1], 0.5);
        QCOMPARE(p.processor_type, std::string("Qwen2VLImageProcessorFast"));
    }

    // Found by fuzz_config: a CLIP with no layers and the usual select layer (-2) made the declaration resize a
    // vector to a negative count (std::length_error past every handler). Now a problem the report lists.
    void deepstackClipWithoutLayersIsAProblemNotACrash() {
        const auto input = testing::data_dir().parent_path() / "fuzz" / "corpus" / "config" / "regression-clip-without-layers.json";
        const auto json = config::read_json_file(input);
        const auto arch = models::describe(Fields(json, "config.json"));
        std::string all;
        for (const auto& p : arch.problems) all += p + "\n";
        QVERIFY2(all.find("mm_vision_select_layer") != std::string::npos, all.c_str());
    }

    // Found by fuzz_config (UBSan): a CLIP patch_size of 0 divided image_size by zero (SIGFPE) in check_config.
    void deepstackZeroPatchSizeIsAProblemNotADivision() {
        auto json = config::read_json_file(testing::data_dir().parent_path() / "fuzz" / "corpus" / "config" / "deepstack-l.json");
        json["vision_config"]["patch_size"] = 0;
        const auto arch = models::describe(Fields(json, "config.json"));
        std::string all;
        for (const auto& p : arch.problems) all += p + "\n";
        QVERIFY2(all.find("is not a multiple of patch_size 0") != std::string::npos, all.c_str());
    }

    // Found by fuzz_config (UBSan): zero attention heads divided by zero before check_config could say so.
    void zeroHeadsIsAProblemNotADivision() {
        const auto input = testing::data_dir().parent_path() / "fuzz" / "corpus" / "config" / "regression-zero-heads.json";
        const auto json = config::read_json_file(input);
        try {
            const auto arch = models::describe(Fields(json, "config.json"));
            QVERIFY(!arch.problems.empty());
        } catch (const Error& e) {
            QCOMPARE(e.kind(), ErrorKind::config);
        }
    }

    // Found by fuzz_config (UBSan): a rope_theta past what an integer holds (5.9e51) was cast to one for the report.
    void hugeRopeThetaIsReportedAsItIs() {
        const auto input = testing::data_dir().parent_path() / "fuzz" / "corpus" / "config" / "regression-rope-theta-past-int64.json";
        const auto json = config::read_json_file(input);
        const auto arch = models::describe(Fields(json, "config.json"));
        std::string rope;
        for (const auto& [name, text] : arch.facts)
            if (name == "rope") rope = text;
        QVERIFY2(rope.find("theta 5.9e+51") != std::string::npos, rope.c_str());
    }

    void deepstackL() {
        const auto json = load("deepstack-l-vicuna-7b.config.json");
        const auto arch = models::describe(Fields(json, "config.json"));
        QCOMPARE(arch.family, std::string("deepstack_llama"));
        QCOMPARE(arch.display_name, std::string("DeepStack-L (LLaVA)"));
        QVERIFY(arch.problems.empty());
        QCOMPARE(arch.deepstack_plan.size(), std::size_t{4});
        for (int k = 0; k < 4; ++k) QCOMPARE(arch.deepstack_plan[k].target_layer, 1 + k);
        const auto parts = count_by_part(arch);
        // Vicuna-7B: 6.738 B; CLIP ViT-L/14-336 vision model: 303.5 M; mlp2x_gelu projector: 21.0 M.
        QCOMPARE(rounded(static_cast<double>(parts.at("language model")), 1e9, 3), 6.738);
        QCOMPARE(rounded(static_cast<double>(parts.at("vision tower")), 1e6, 1), 303.5);
        QCOMPARE(rounded(static_cast<double>(parts.at("projector")), 1e6, 1), 21.0);
        // The released shards hold 4.94 + 4.95 + 4.24 GB = 14.13 GB of bf16 tensors.
        QCOMPARE(rounded(2.0 * static_cast<double>(total(parts)), 1e9, 2), 14.13);
    }

    void deepstackLHD() {
        const auto json = load("deepstack-l-hd-vicuna-7b.config.json");
        const auto arch = models::describe(Fields(json, "config.json"));
        QCOMPARE(arch.display_name, std::string("DeepStack-L-HD (LLaVA)"));
        bool has_newline = false;
        for (const auto& spec : arch.tensors) has_newline = has_newline || spec.name == "model.image_newline";
        QVERIFY(has_newline);
        QCOMPARE(arch.deepstack_plan.size(), std::size_t{4});
    }

    void deepstackStartAndInterval() {
        auto json = load("deepstack-l-vicuna-7b.config.json");
        json["deepstack_start_id"] = 4;
        json["deepstack_interval"] = 8;
        const auto arch = models::describe(Fields(json, "config.json"));
        QCOMPARE(arch.deepstack_plan[3].target_layer, 4 + 3 * 8);
        // A group past the last layer is never added (the authors' loop only visits real layers): a note, not an error.
        json["deepstack_interval"] = 10;
        const auto too_far = models::describe(Fields(json, "config.json"));
        QVERIFY(too_far.problems.empty());
        QCOMPARE(too_far.deepstack_plan.size(), std::size_t{3});
        bool noted = false;
        for (const auto& note : too_far.notes) noted = noted || note.find("layer 34 of a 32-layer language model") != std::string::npos;
        QVERIFY(noted);
        json["deepstack_start_id"] = 32;
        QCOMPARE(models::describe(Fields(json, "config.json")).problems.size(), std::size_t{1});
    }

    void unknownVisionTowerSaysWhatToAdd() {
        auto json = load("deepstack-l-vicuna-7b.config.json");
        json["mm_vision_tower"] = "google/siglip-so400m-patch14-384";
        try {
            (void)models::describe(Fields(json, "config.json"));
            QFAIL("an unknown tower was accepted");
        } catch (const Error& e) {
            QVERIFY(std::string(e.what()).find("add a \"vision_config\"") != std::string::npos);
        }
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestModelConfigs)

}  // namespace test_model_configs
#include "test_model_configs.moc"

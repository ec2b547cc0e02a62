// inspect on folders the test writes: the numbers it prints, and a clear problem for each kind of broken folder.
#include <QTemporaryDir>
#include <QtTest>
#include "test_main.h"

#include <nlohmann/json.hpp>

#include "deepstack/inspect.h"
#include "test_files.h"
#include "tiny_folders.h"

namespace test_inspect {

using namespace deepstack;
using namespace deepstack::testing;
using nlohmann::json;

namespace {

// The parameter count of Qwen3-VL, written out independently of the core (the spec's qwen3vl_params.py).
struct QwenCounts {
    std::int64_t vision = 0, mergers = 0, language = 0;
};
QwenCounts qwen_counts(std::int64_t V, std::int64_t H, std::int64_t L, std::int64_t nH, std::int64_t nKV, std::int64_t hd,
                       std::int64_t I, bool tie, std::int64_t Dv, std::int64_t Iv, std::int64_t depth, std::int64_t nds,
                       std::int64_t npos, std::int64_t P = 16, std::int64_t T = 2) {
    QwenCounts c;
    const auto attn = H * nH * hd + 2 * H * nKV * hd + nH * hd * H + 2 * hd;
    c.language = V * H + L * (attn + 3 * H * I + 2 * H) + H + (tie ? 0 : V * H);
    const auto block = 4 * Dv + (Dv * 3 * Dv + 3 * Dv) + (Dv * Dv + Dv) + (Dv * Iv + Iv) + (Iv * Dv + Dv);
    c.vision = 3 * T * P * P * Dv + Dv + npos * Dv + depth * block;
    const auto m4 = 4 * Dv;
    c.mergers = (2 * Dv + m4 * m4 + m4 + m4 * H + H) + nds * (2 * m4 + m4 * m4 + m4 + m4 * H + H);
    return c;
}

bool has_problem(const InspectReport& r, const std::string& fragment) {
    for (const auto& p : r.problems)
        if (p.find(fragment) != std::string::npos) return true;
    return false;
}

std::string problems_of(const InspectReport& r) {
    std::string all;
    for (const auto& p : r.problems) all += p + "\n";
    return all;
}

}  // namespace

class TestInspect : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::filesystem::path path(const std::string& name) const { return std::filesystem::path(dir_.path().toStdString()) / name; }

private Q_SLOTS:
    void tinyQwen3VL() {
        write_tiny_folder(path("qwen"), tiny_qwen3_vl_config());
        const auto r = inspect_model_folder(path("qwen"));
        QVERIFY2(r.ok(), problems_of(r).c_str());
        QCOMPARE(r.family, std::string("qwen3_vl"));
        QVERIFY(r.runnable);
        const auto expected = qwen_counts(256, 64, 4, 4, 2, 16, 96, true, 32, 64, 4, 3, 64);
        QCOMPARE(r.parts.size(), std::size_t{3});
        QCOMPARE(r.parts[0].name, std::string("vision tower"));
        QCOMPARE(r.parts[0].parameters, expected.vision);
        QCOMPARE(r.parts[1].name, std::string("mergers"));
        QCOMPARE(r.parts[1].parameters, expected.mergers);
        QCOMPARE(r.parts[2].name, std::string("language model"));
        QCOMPARE(r.parts[2].parameters, expected.language);
        QCOMPARE(r.total_parameters, expected.vision + expected.mergers + expected.language);
        QCOMPARE(r.dtypes.size(), std::size_t{1});
        QCOMPARE(r.dtypes.at("BF16").second, static_cast<std::uint64_t>(r.total_parameters) * 2);
        QCOMPARE(r.cpu.weights_bytes, static_cast<std::uint64_t>(r.total_parameters) * 2);
        QCOMPARE(r.kv_cache_bytes_per_token, std::uint64_t{2 * 4 * 2 * 16 * 2});  // K and V, layers, KV heads, head_dim, bf16
        QCOMPARE(r.cpu.kv_cache_bytes, r.kv_cache_bytes_per_token * static_cast<std::uint64_t>(r.context_tokens));
        QVERIFY(r.gpu.total_bytes() > r.cpu.total_bytes());
        QCOMPARE(r.deepstack_plan.size(), std::size_t{3});
        for (int k = 0; k < 3; ++k) {
            QCOMPARE(r.deepstack_plan[k].target_layer, k);
            // Numbered from 1 as in the app's Stacks tab and the CLI, beside the checkpoint's name.
            QCOMPARE(r.deepstack_plan[k].group, "group " + std::to_string(k + 1) + " (deepstack_merger_list." + std::to_string(k) + ")");
            QCOMPARE(r.deepstack_plan[k].target, std::string("language model"));
            QVERIFY(r.deepstack_plan[k].source.find("vision block " + std::to_string(k + 1)) == 0);
        }
        QVERIFY(r.has_chat_template);
        QCOMPARE(r.tokenizer_vocab, std::int64_t{254});
    }

    void tinyQwen3VLSharded() {
        write_tiny_folder(path("qwen-sharded"), tiny_qwen3_vl_config(), {.shards = 3});
        const auto r = inspect_model_folder(path("qwen-sharded"));
        QVERIFY2(r.ok(), problems_of(r).c_str());
        QCOMPARE(r.shards, std::int64_t{3});
        const auto expected = qwen_counts(256, 64, 4, 4, 2, 16, 96, true, 32, 64, 4, 3, 64);
        QCOMPARE(r.total_parameters, expected.vision + expected.mergers + expected.language);
    }

    void tinyDeepStackL() {
        write_tiny_folder(path("dsl"), tiny_deepstack_llama_config());
        const auto r = inspect_model_folder(path("dsl"));
        QVERIFY2(r.ok(), problems_of(r).c_str());
        QCOMPARE(r.family, std::string("deepstack_llama"));
        QCOMPARE(r.display_name, std::string("DeepStack-L (LLaVA)"));
        // CLIP: class + patch conv + positions (16 patches + CLS) + pre-LN + 3 layers (the unused post-LN is not written)
        const std::int64_t D = 32, I = 64;
        const std::int64_t clip = D + D * 3 * 14 * 14 + 17 * D + 2 * D + 3 * (4 * (D * D + D) + 4 * D + (I * D + I) + (D * I + D));
        const std::int64_t H = 64, Il = 128, V = 400;
        const std::int64_t projector = (H * D + H) + (H * H + H);
        const std::int64_t llama = V * H + 6 * (4 * H * H + 3 * H * Il + 2 * H) + H + V * H;
        QCOMPARE(r.parts[0].parameters, clip);
        QCOMPARE(r.parts[1].name, std::string("projector"));
        QCOMPARE(r.parts[1].parameters, projector);
        QCOMPARE(r.parts[2].parameters, llama);
        QCOMPARE(r.deepstack_plan.size(), std::size_t{4});
        for (int k = 0; k < 4; ++k) {
            QCOMPARE(r.deepstack_plan[k].target_layer, 1 + k);  // deepstack_start_id 1, interval 1
            QCOMPARE(r.deepstack_plan[k].group, "group " + std::to_string(k + 1));
        }
        QCOMPARE(r.tokenizer_vocab, std::int64_t{400});
        QCOMPARE(r.kv_cache_bytes_per_token, std::uint64_t{2 * 6 * 64 * 2});
    }

    // The twin without stacks (our "nostack" flag) has no stack plan, and says why; the projector's optional fields
    // are counted with the projector and named.
    void twinWithoutStacksHasNoPlan() {
        auto config = tiny_deepstack_llama_config();
        config["deepstack_args_for_ablation"] = "nostack";
        config["mm_projector_norm"] = true;
        config["deepstack_group_embedding"] = true;
        config["vicuna_system_prompt"] = "";
        write_tiny_folder(path("twin"), config);
        const auto r = inspect_model_folder(path("twin"));
        QVERIFY2(r.ok(), problems_of(r).c_str());
        QVERIFY(r.deepstack_plan.empty());
        bool said = false;
        for (const auto& note : r.notes) said = said || note.find("\"nostack\": the global view alone") != std::string::npos;
        QVERIFY(said);
        const std::int64_t D = 32, H = 64;
        QCOMPARE(r.parts[1].parameters, (H * D + H) + (H * H + H) + H + 4 * H);
        const auto text = to_text(r);
        QVERIFY2(text.find("then RMSNorm (mm_projector_norm)") != std::string::npos, text.c_str());
        QVERIFY2(text.find("none (vicuna_system_prompt)") != std::string::npos, text.c_str());
    }

    void deepStackVPlanGoesIntoTheVisionTower() {
        auto config = tiny_deepstack_llama_config();
        config["vision_config"]["num_hidden_layers"] = 8;
        config["deepstack_args_for_ablation"] = "2xsample+deepstack_vit+lsvit_start_layer_3";
        write_tiny_folder(path("dsv"), config);
        const auto r = inspect_model_folder(path("dsv"));
        QVERIFY2(r.ok(), problems_of(r).c_str());
        QCOMPARE(r.display_name, std::string("DeepStack-V (LLaVA)"));
        QCOMPARE(r.deepstack_plan.size(), std::size_t{4});
        for (int k = 0; k < 4; ++k) {
            QCOMPARE(r.deepstack_plan[k].target, std::string("vision tower"));
            QCOMPARE(r.deepstack_plan[k].target_layer, 3 + k);
        }
    }

    void brokenFolders_data() {
        QTest::addColumn<int>("kind");
        QTest::addColumn<std::string>("expected");
        QTest::newRow("missing tensor") << 0 << std::string("tensor 'model.language_model.layers.2.mlp.up_proj.weight' [96, 64] (language model) is missing");
        QTest::newRow("misshapen tensor") << 1 << std::string("tensor 'model.visual.pos_embed.weight': config.json implies shape [64, 32], the checkpoint has [49, 32]");
        QTest::newRow("unused tensor") << 2 << std::string("tensor 'model.visual.extra.weight' [3] is not part of a Qwen3-VL model with this config (unused)");
        QTest::newRow("tokenizer disagrees") << 3 << std::string("config.json says <|image_pad|> is token 252, the tokenizer says 240");
        QTest::newRow("no tokenizer") << 4 << std::string("no tokenizer (tokenizer.json or tokenizer.model)");
        QTest::newRow("no config") << 5 << std::string("config.json: missing; it says which model this is");
        QTest::newRow("unknown family") << 6 << std::string("model_type 'gpt2' is not a family this build knows");
        QTest::newRow("wrong field type") << 7 << std::string("config.json: text_config.hidden_size: expected an integer, found string \"wide\"");
        QTest::newRow("truncated weights") << 8 << std::string("model.safetensors: tensor 'model.language_model.norm.weight': data_offsets [650432, 650560) end past the data area of 650460 bytes (file truncated?)");
        QTest::newRow("inconsistent config") << 9 << std::string("vision_config.out_hidden_size 48 differs from text_config.hidden_size 64");
        QTest::newRow("no weights") << 10 << std::string("no weights: expected model.safetensors");
        QTest::newRow("eos outside vocabulary") << 11 << std::string("eos_token_id 9999 is outside the vocabulary of 256");
        QTest::newRow("not JSON") << 12 << std::string("config.json: not valid JSON");
    }
    void brokenFolders() {
        QFETCH(int, kind);
        QFETCH(std::string, expected);
        const auto folder = path("broken-" + std::to_string(kind));
        auto config = tiny_qwen3_vl_config();
        FolderOptions options;
        switch (kind) {
            case 0: options.drop = {"model.language_model.layers.2.mlp.up_proj.weight"}; break;
            case 1: options.reshape = {{"model.visual.pos_embed.weight", {49, 32}}}; break;
            case 2: options.extra = {{"model.visual.extra.weight", {3}}}; break;
            case 3: options.special_token_ids = {{"<|image_pad|>", 240}}; break;
            case 4: options.tokenizer = false; break;
            case 6: config["model_type"] = "gpt2"; break;
            case 7: config["text_config"]["hidden_size"] = "wide"; break;
            case 9: config["vision_config"]["out_hidden_size"] = 48; break;
            default: break;
        }
        if (kind == 6 || kind == 7) {
            write_tiny_folder(folder, tiny_qwen3_vl_config(), options);
            write_json(folder / "config.json", config);
        } else if (kind == 9) {
            write_tiny_folder(folder, tiny_qwen3_vl_config(), options);
            write_json(folder / "config.json", config);
        } else {
            write_tiny_folder(folder, config, options);
        }
        if (kind == 5) std::filesystem::remove(folder / "config.json");
        if (kind == 8) std::filesystem::resize_file(folder / "model.safetensors", std::filesystem::file_size(folder / "model.safetensors") - 100);
        if (kind == 10) std::filesystem::remove(folder / "model.safetensors");
        if (kind == 11) write_json(folder / "generation_config.json", {{"eos_token_id", {249, 9999}}});
        if (kind == 12) write_file(folder / "config.json", "{\"model_type\": \"qwen3_vl\", ");

        const auto r = inspect_model_folder(folder);
        QVERIFY(!r.ok());
        QVERIFY2(has_problem(r, expected), problems_of(r).c_str());
        // The report is still printable in both forms.
        QVERIFY(!to_text(r).empty());
        QVERIFY(json::parse(to_json(r)).at("ok") == false);
    }

    void moeIsRecognisedButNotRunnable() {
        auto config = tiny_qwen3_vl_config();
        config["model_type"] = "qwen3_vl_moe";
        config["text_config"]["num_experts"] = 4;
        config["text_config"]["num_experts_per_tok"] = 2;
        config["text_config"]["moe_intermediate_size"] = 32;
        write_tiny_folder(path("moe"), config);
        const auto r = inspect_model_folder(path("moe"));
        QVERIFY2(r.ok(), problems_of(r).c_str());
        QCOMPARE(r.display_name, std::string("Qwen3-VL MoE"));
        QVERIFY(!r.runnable);
        QVERIFY(r.not_runnable_reason.find("only inspects") != std::string::npos);
    }

    void jsonReportCarriesTheNumbers() {
        write_tiny_folder(path("qwen-json"), tiny_qwen3_vl_config());
        const auto r = inspect_model_folder(path("qwen-json"));
        const auto j = json::parse(to_json(r));
        QCOMPARE(j.at("family").get<std::string>(), std::string("qwen3_vl"));
        QCOMPARE(j.at("parameters").at("total").get<std::int64_t>(), r.total_parameters);
        QCOMPARE(j.at("deepstack_plan").size(), std::size_t{3});
        QCOMPARE(j.at("memory_bf16").at("cpu").at("total_bytes").get<std::uint64_t>(), r.cpu.total_bytes());
        QCOMPARE(j.at("weights").at("dtypes").at("BF16").at("tensors").get<std::int64_t>(), r.dtypes.at("BF16").first);
    }

    void humanNumbers() {
        QCOMPARE(human_bytes(4'260'000'000), std::string("4.26 GB"));
        QCOMPARE(human_bytes(512), std::string("512 B"));
        QCOMPARE(human_count(2'127'500'000), std::string("2.127 B"));
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestInspect)

}  // namespace test_inspect
#include "test_inspect.moc"

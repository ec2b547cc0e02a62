// Qwen3-VL from llama.cpp's GGUF files (tests/reference/make_qwen3_vl_gguf_fixture.py: a tiny random model
// converted by llama.cpp's convert_hf_to_gguf.py and quantized by its llama-quantize) against what transformers
// computed for the same weights: the BF16 file gives transformers' tokens and logits, the Q8_0 and Q4_K_M files
// (blocks used as stored) stay within a stated KL divergence; the vocabulary and chat template read from the
// metadata equal the tokenizer.json the file was made from; a missing mmproj or a damaged pairing is an error
// that says what to do.
#include <QTemporaryDir>
#include <QtTest>
#include "test_main.h"

#include <cstdlib>
#include <fstream>

#include <torch/types.h>

#include "deepstack/engine.h"
#include "deepstack/error.h"
#include "deepstack/inspect.h"
#include "deepstack/model_folder.h"
#include "deepstack/safetensors.h"
#include "deepstack/tokenizer.h"
#include "models/qwen3_vl/model.h"
#include "tensor/torch_bridge.h"
#include "test_files.h"

namespace test_gguf_model {

using namespace deepstack;
using qwen3_vl::Grid;

namespace {
const std::filesystem::path kFixture = testing::data_dir() / "fixtures" / "tiny-qwen3-vl-gguf";

// KL(reference || got) of each row's softmax.
torch::Tensor kl_divergence(const torch::Tensor& reference, const torch::Tensor& got) {
    const auto p = torch::log_softmax(reference.to(torch::kFloat64), -1);
    const auto q = torch::log_softmax(got.to(torch::kFloat64), -1);
    return (p.exp() * (p - q)).sum(-1);
}
}  // namespace

class TestGgufModel : public QObject {
    Q_OBJECT
    QTemporaryDir cache_;
    std::optional<SafetensorsFile> reference_;
    std::vector<std::int64_t> ids_;
    std::vector<Grid> grids_;

    torch::Tensor ref(const std::string& name) const { return tensor::to_torch(reference_->view(name)).clone(); }
    std::filesystem::path folder_of(const std::string& text) const {
        return gguf_model_folder(kFixture / text, kFixture / "mmproj-F32.gguf", cache_.path().toStdString());
    }

    struct Run {
        torch::Tensor prefill;                // [L, V]
        std::vector<torch::Tensor> steps;     // each [V], fed the reference's tokens
    };
    Run run(const qwen3_vl::Model& model) const {
        c10::InferenceMode guard;
        const auto features = model.encode_images(ref("pixel_values"), grids_);
        const auto index = model.rope_index(ids_, grids_);
        auto cache = model.new_cache(64);
        Run r;
        r.prefill = model.forward(ids_, index.positions, cache, &features, false);
        auto logits = r.prefill.narrow(0, r.prefill.size(0) - 1, 1);
        const auto tokens = ref("generated");
        for (std::int64_t step = 0; step < tokens.size(0); ++step) {
            r.steps.push_back(logits[0].clone());
            const auto position = torch::full({3, 1}, cache.length() + index.delta, torch::kLong);
            logits = model.forward({tokens[step].item<std::int64_t>()}, position, cache, nullptr, true);
        }
        return r;
    }

private Q_SLOTS:
    void initTestCase() {
        QVERIFY(cache_.isValid());
        qputenv("XDG_CACHE_HOME", cache_.path().toUtf8());  // Model::load's own folders go here too
        reference_ = SafetensorsFile::open(kFixture / "reference.safetensors");
        const auto input_ids = ref("input_ids");
        ids_.assign(input_ids.data_ptr<std::int64_t>(), input_ids.data_ptr<std::int64_t>() + input_ids.numel());
        const auto grid = ref("image_grid_thw");
        for (std::int64_t i = 0; i < grid.size(0); ++i)
            grids_.push_back({grid[i][0].item<std::int64_t>(), grid[i][1].item<std::int64_t>(), grid[i][2].item<std::int64_t>()});
    }

    // The weights were rounded to bf16 before transformers ran them in f32, so the BF16 file is the same model.
    void bf16FileComputesWhatTransformersComputes() {
        const auto model = qwen3_vl::Model::load(folder_of("model-BF16.gguf"), {c10::kFloat, c10::Device(c10::kCPU), {}});
        const auto r = run(*model);
        const auto reference = ref("logits");
        QCOMPARE(r.prefill.sizes().vec(), reference.sizes().vec());
        QVERIFY2(torch::allclose(r.prefill, reference, 1e-4, 1e-4),
                 qPrintable(QString("prefill differs by %1").arg((r.prefill - reference).abs().max().item<double>())));
        const auto tokens = ref("generated");
        const auto expected = ref("generated.logits");
        for (std::int64_t step = 0; step < tokens.size(0); ++step) {
            const auto& logits = r.steps[static_cast<std::size_t>(step)];
            QVERIFY2(torch::allclose(logits, expected[step], 1e-4, 1e-4), qPrintable(QString("step %1").arg(step)));
            QCOMPARE(logits.argmax().item<std::int64_t>(), tokens[step].item<std::int64_t>());
        }
    }

    // The prefill multiplies tiles of dequantized rows in f32: it must equal transformers run on the weights that
    // llama.cpp's gguf-py dequantizes from the same file (a wrong block layout, scale or row order fails here).
    void quantizedBlocksAreReadAsLlamaCppReadsThem_data() {
        QTest::addColumn<QString>("kind");
        QTest::newRow("Q8_0") << "Q8_0";
        QTest::newRow("Q4_K_M") << "Q4_K_M";
    }
    void quantizedBlocksAreReadAsLlamaCppReadsThem() {
        QFETCH(QString, kind);
        const auto model = qwen3_vl::Model::load(folder_of("model-" + kind.toStdString() + ".gguf"), {c10::kFloat, c10::Device(c10::kCPU), {}});
        const auto r = run(*model);
        const auto expected = ref("logits." + kind.toStdString());
        QVERIFY2(torch::allclose(r.prefill, expected, 1e-4, 1e-4),
                 qPrintable(QString("prefill differs from gguf-py's dequantized weights by %1").arg((r.prefill - expected).abs().max().item<double>())));
    }

    // Against the f32 model. Measured: Q8_0 KL 5.6e-4 (prefill) and 1.3e-3 (decode, activations rounded to 8 bits
    // in the kernels), 24 / 24 greedy tokens; Q4_K_M 0.089 and 0.129, 14 / 24 (this random model's logits are near
    // ties; the test above shows the error is the format's, not the reading's). The bounds leave 1.5-2x.
    void quantizedFilesStayClose_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<double>("max_kl");
        QTest::addColumn<double>("min_agreement");
        QTest::newRow("Q8_0") << "model-Q8_0.gguf" << 2e-3 << 0.9;
        QTest::newRow("Q4_K_M") << "model-Q4_K_M.gguf" << 0.2 << 0.45;
    }
    void quantizedFilesStayClose() {
        QFETCH(QString, file);
        QFETCH(double, max_kl);
        QFETCH(double, min_agreement);
        const auto model = qwen3_vl::Model::load(folder_of(file.toStdString()), {c10::kFloat, c10::Device(c10::kCPU), {}});
        const auto r = run(*model);
        const auto reference = ref("logits");
        const auto prefill_kl = kl_divergence(reference, r.prefill).mean().item<double>();
        QVERIFY2(prefill_kl < max_kl, qPrintable(QString("prefill KL %1").arg(prefill_kl)));
        QVERIFY2((r.prefill - reference).abs().max().item<double>() > 1e-4, "the logits equal the BF16 file's: the blocks were not used");
        const auto tokens = ref("generated");
        const auto expected = ref("generated.logits");
        double decode_kl = 0;
        std::int64_t same = 0;
        for (std::int64_t step = 0; step < tokens.size(0); ++step) {
            decode_kl += kl_divergence(expected[step], r.steps[static_cast<std::size_t>(step)]).item<double>();
            same += r.steps[static_cast<std::size_t>(step)].argmax().item<std::int64_t>() == tokens[step].item<std::int64_t>();
        }
        decode_kl /= static_cast<double>(tokens.size(0));
        QVERIFY2(decode_kl < max_kl, qPrintable(QString("decode KL %1").arg(decode_kl)));
        QVERIFY2(static_cast<double>(same) >= min_agreement * static_cast<double>(tokens.size(0)),
                 qPrintable(QString("%1 of %2 greedy tokens agree").arg(same).arg(tokens.size(0))));
        qInfo("%s: prefill KL %.2e, decode KL %.2e, %lld/%lld tokens", qPrintable(file), prefill_kl, decode_kl,
              static_cast<long long>(same), static_cast<long long>(tokens.size(0)));
    }

    void vocabularyFromMetadataEqualsTokenizerJson() {
        const auto from_gguf = Tokenizer::load(folder_of("model-Q4_K_M.gguf"));
        const auto from_json = Tokenizer::load(kFixture);  // the tokenizer.json the GGUF was converted from
        QCOMPARE(from_gguf->size(), from_json->size());
        const std::vector<std::string> texts{
            "What is the total on this invoice?", "  leading spaces\tand\nnew lines\r\n\n", "Ünïcödé çåfé e\u0301 中文 😀",
            "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Hi<|im_end|>\n<think>\n</think>", "I'm sure they'll, WE'VE 1234567"};
        for (const auto& text : texts) QCOMPARE(from_gguf->encode(text), from_json->encode(text));
        // And the prompt transformers ran, ids included.
        const auto prompt = reference_->metadata().at("prompt");
        const auto ids = from_gguf->encode(prompt);
        QCOMPARE(std::vector<std::int64_t>(ids.begin(), ids.end()), ids_);
        QCOMPARE(from_gguf->decode(from_gguf->encode(texts[2])), from_json->decode(from_json->encode(texts[2])));
    }

    void chatTemplateComesFromMetadata() {
        const auto files = read_tokenizer_files(folder_of("model-BF16.gguf"));
        const auto original = read_tokenizer_files(kFixture);
        QVERIFY(files.chat_template.has_value());
        QCOMPARE(*files.chat_template, *original.chat_template);
        QCOMPARE(files.special_tokens.at("<|image_pad|>"), original.special_tokens.at("<|image_pad|>"));
    }

    void inspectReadsTheFiles() {
        const auto report = inspect_model_folder(folder_of("model-Q4_K_M.gguf"));
        QVERIFY2(report.ok(), report.problems.empty() ? "" : report.problems.front().c_str());
        QVERIFY(report.gguf);
        QCOMPARE(report.family, std::string("qwen3_vl"));
        QCOMPARE(report.shards, std::int64_t{2});
        QVERIFY(report.dtypes.contains("Q4_K"));
        QVERIFY(report.dtypes.contains("Q6_K"));  // Q4_K_M keeps some rows at 6 bits
        // The memory estimate counts the blocks as stored, well under the bf16 weights.
        const auto bf16_bytes = static_cast<std::uint64_t>(report.total_parameters) * 2;
        const auto bytes = weights_memory_bytes(report, ComputeType::bf16, WeightFormat::automatic, DeviceKind::cpu);
        QVERIFY2(bytes < bf16_bytes * 3 / 4, qPrintable(QString("%1 of %2").arg(bytes).arg(bf16_bytes)));
        QCOMPARE(report.cpu.weights_bytes, bytes);
    }

    // The public engine takes the .gguf path itself, the mmproj found beside it, and answers.
    void engineLoadsAGgufFileAndAnswers() {
        EngineOptions options;
        options.threads = 1;
        options.context_tokens = 256;
        const auto model = Model::load(kFixture / "model-Q8_0.gguf", options);
        QCOMPARE(model->info().family, std::string("qwen3_vl"));
        auto conversation = model->start_conversation("");
        RgbImage image{64, 96, std::vector<std::uint8_t>(64 * 96 * 3, 128)};
        SamplingSettings settings;
        settings.max_new_tokens = 6;
        const auto reply = conversation->send({Message::Role::user, "What is the total?", {image}}, settings);
        QVERIFY(!reply.tokens.empty());
        QVERIFY(reply.image_tokens > 0);
    }

    void missingMmprojSaysWhatToDo() {
        QTemporaryDir alone;
        std::filesystem::copy_file(kFixture / "model-Q4_K_M.gguf", std::filesystem::path(alone.path().toStdString()) / "model.gguf");
        try {
            (void)gguf_model_folder(std::filesystem::path(alone.path().toStdString()) / "model.gguf", std::nullopt, cache_.path().toStdString());
            QFAIL("a Qwen3-VL text file without its mmproj was accepted");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("mmproj") != std::string::npos, e.what());
        }
    }

    void mmprojInPlaceOfTheModelIsRefused() {
        try {
            (void)gguf_model_folder(kFixture / "mmproj-F32.gguf", std::nullopt, cache_.path().toStdString());
            QFAIL("an mmproj was accepted as the text model");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("text model") != std::string::npos, e.what());
        }
    }

    // The GGUF files LM Studio and llama.cpp downloaded are found (mmproj files left out), and in llama.cpp's flat
    // download cache each model pairs with the mmproj its name begins with; two that cannot be told apart are refused.
    void otherAppsModelsAreFoundAndPaired() {
        QTemporaryDir home;
        const std::filesystem::path root = home.path().toStdString();
        const auto place = [](const std::filesystem::path& from, const std::filesystem::path& to) {
            std::filesystem::create_directories(to.parent_path());
            std::filesystem::copy_file(from, to);
        };
        const auto studio = root / ".lmstudio" / "models" / "ggml-org" / "Qwen3-VL-2B-Instruct-GGUF";
        place(kFixture / "model-Q4_K_M.gguf", studio / "Qwen3-VL-2B-Instruct-Q4_K_M.gguf");
        place(kFixture / "mmproj-F32.gguf", studio / "mmproj-Qwen3-VL-2B-Instruct-F32.gguf");
        const auto llama = root / "llama-cache";
        place(kFixture / "model-Q8_0.gguf", llama / "ggml-org_Qwen3-VL-2B-Instruct-GGUF_Qwen3-VL-2B-Instruct-Q8_0.gguf");
        place(kFixture / "mmproj-F32.gguf", llama / "ggml-org_Qwen3-VL-2B-Instruct-GGUF_mmproj-Qwen3-VL-2B-Instruct-F32.gguf");
        place(kFixture / "mmproj-F32.gguf", llama / "unsloth_Qwen3-VL-4B-Instruct-GGUF_mmproj-F16.gguf");
        std::ofstream(llama / "notes.txt") << "not a model";
        const auto old_home = qgetenv("HOME");
        qputenv("HOME", home.path().toUtf8());
        qputenv("LLAMA_CACHE", QByteArray::fromStdString(llama.string()));
        const auto found = gguf_models_of_other_apps();
        qputenv("HOME", old_home);
        qunsetenv("LLAMA_CACHE");
        QCOMPARE(found.size(), std::size_t{2});
        QCOMPARE(found[0].app, std::string("LM Studio"));
        QCOMPARE(found[0].file, studio / "Qwen3-VL-2B-Instruct-Q4_K_M.gguf");
        QCOMPARE(found[1].app, std::string("llama.cpp"));
        QCOMPARE(found[1].file.filename().string(), std::string("ggml-org_Qwen3-VL-2B-Instruct-GGUF_Qwen3-VL-2B-Instruct-Q8_0.gguf"));
        QCOMPARE(find_mmproj(found[0].file), std::optional(studio / "mmproj-Qwen3-VL-2B-Instruct-F32.gguf"));
        QCOMPARE(find_mmproj(found[1].file), std::optional(llama / "ggml-org_Qwen3-VL-2B-Instruct-GGUF_mmproj-Qwen3-VL-2B-Instruct-F32.gguf"));
        // The pair loads as one model folder.
        QVERIFY(std::filesystem::exists(gguf_model_folder(found[1].file, std::nullopt, cache_.path().toStdString()) / "config.json"));
        // Two mmproj files that both begin the model's name: which one is meant cannot be told.
        place(kFixture / "mmproj-F32.gguf", llama / "ggml-org_Qwen3-VL-2B-Instruct-GGUF_mmproj-Qwen3-VL-2B-Instruct-F16.gguf");
        QVERIFY_THROWS_EXCEPTION(Error, find_mmproj(found[1].file));
    }

    // A text file paired with the mmproj of another model: the widths disagree, and the error says so.
    void mismatchedPairIsRefused() {
        QTemporaryDir dir;
        const std::filesystem::path root = dir.path().toStdString();
        // An mmproj whose projection width is not the text model's: the same file with the key's value changed.
        std::ifstream in(kFixture / "mmproj-F32.gguf", std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const std::string key = "clip.vision.projection_dim";
        const auto at = bytes.find(key);
        QVERIFY(at != std::string::npos);
        // After the key: its type (u32 4 = UINT32) and the value.
        auto* value = reinterpret_cast<std::uint32_t*>(bytes.data() + at + key.size() + 4);
        QCOMPARE(*value, 256u);
        *value = 512;
        std::ofstream(root / "other-mmproj.gguf", std::ios::binary) << bytes;
        try {
            (void)gguf_model_folder(kFixture / "model-BF16.gguf", root / "other-mmproj.gguf", cache_.path().toStdString());
            QFAIL("a mismatched mmproj was accepted");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("belongs to another model") != std::string::npos, e.what());
        }
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestGgufModel)

}  // namespace test_gguf_model
#include "test_gguf_model.moc"

// deepstack-cli as a user runs it: exit codes, text and JSON output of inspect on folders the test writes.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include "test_main.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "deepstack/image.h"
#include "test_files.h"
#include "tiny_folders.h"

namespace test_cli {

using namespace deepstack::testing;

namespace {
struct Run {
    int exit_code = -1;
    std::string out, err;
};
// `environment`: NAME=VALUE to set, or NAME alone to remove.
Run run_cli(const QStringList& args, const QByteArray& input = {}, const QStringList& environment = {}) {
    QProcess process;
    auto env = QProcessEnvironment::systemEnvironment();
    for (const auto& entry : environment) {
        const auto equals = entry.indexOf('=');
        if (equals < 0) env.remove(entry);
        else env.insert(entry.left(equals), entry.mid(equals + 1));
    }
    process.setProcessEnvironment(env);
    process.start(DEEPSTACK_CLI_PATH, args);
    process.write(input);
    process.closeWriteChannel();
    if (!process.waitForFinished(60000)) return {};
    return {process.exitCode(), process.readAllStandardOutput().toStdString(), process.readAllStandardError().toStdString()};
}
}  // namespace

class TestCli : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

private Q_SLOTS:
    void inspectJson() {
        const auto folder = std::filesystem::path(dir_.path().toStdString()) / "qwen";
        write_tiny_folder(folder, tiny_qwen3_vl_config());
        const auto run = run_cli({"inspect", QString::fromStdString(folder.string()), "--json"});
        QCOMPARE(run.exit_code, 0);
        const auto j = nlohmann::json::parse(run.out);
        QCOMPARE(j.at("family").get<std::string>(), std::string("qwen3_vl"));
        QCOMPARE(j.at("ok").get<bool>(), true);
        QCOMPARE(j.at("deepstack_plan").size(), std::size_t{3});
        QVERIFY(j.at("parameters").at("total").get<std::int64_t>() > 0);
    }

    void inspectText() {
        const auto folder = std::filesystem::path(dir_.path().toStdString()) / "dsl";
        write_tiny_folder(folder, tiny_deepstack_llama_config());
        const auto run = run_cli({"inspect", QString::fromStdString(folder.string())});
        QCOMPARE(run.exit_code, 0);
        QVERIFY(run.out.find("DeepStack-L (LLaVA)") != std::string::npos);
        QVERIFY(run.out.find("added to the image positions before layer 4") != std::string::npos);
        QVERIFY(run.out.find("no problems found") != std::string::npos);
    }

    void inspectBrokenFolderExitsWithOne() {
        const auto folder = std::filesystem::path(dir_.path().toStdString()) / "broken";
        write_tiny_folder(folder, tiny_qwen3_vl_config(), {.drop = {"model.language_model.norm.weight"}});
        const auto run = run_cli({"inspect", QString::fromStdString(folder.string())});
        QCOMPARE(run.exit_code, 1);
        QVERIFY(run.out.find("'model.language_model.norm.weight' [64] (language model) is missing") != std::string::npos);
    }

    void tokenizeRoundTrip() {
        const QString folder = QString::fromStdString(deepstack::testing::qwen3_tokenizer_dir().string());
        const auto encoded = run_cli({"tokenize", "--model", folder}, "Hello, world!<|im_end|>");
        QCOMPARE(encoded.exit_code, 0);
        // Hugging Face tokenizers: [9707, 11, 1879, 0, 151645]
        QCOMPARE(nlohmann::json::parse(encoded.out).get<std::vector<int>>(), (std::vector<int>{9707, 11, 1879, 0, 151645}));
        const auto decoded = run_cli({"tokenize", "--model", folder, "--decode"}, QByteArray::fromStdString(encoded.out));
        QCOMPARE(decoded.exit_code, 0);
        QCOMPARE(decoded.out, std::string("Hello, world!<|im_end|>"));
        const auto bad = run_cli({"tokenize", "--model", folder, "--decode"}, "[1, 999999]");
        QCOMPARE(bad.exit_code, 1);
        QVERIFY(bad.err.find("token id 999999 is outside the vocabulary of 151669") != std::string::npos);
        const auto missing = run_cli({"tokenize", "--model", "/nonexistent"}, "x");
        QCOMPARE(missing.exit_code, 1);
        QVERIFY(missing.err.find("/nonexistent: no tokenizer.json or tokenizer.model") != std::string::npos);
    }

    void chatStreamsAndReportsJson() {
        const auto tokenizer = deepstack::testing::qwen3_tokenizer_dir() / "tokenizer.json";
        const auto folder = std::filesystem::path(dir_.path().toStdString()) / "chat-model";
        write_tiny_folder(folder, tiny_qwen3_vl_config_real_vocabulary(), {.tokenizer_json = tokenizer});
        const auto image = (deepstack::testing::data_dir() / "images" / "tiny-budget.png").string();
        const QStringList common{"--model", QString::fromStdString(folder.string()), "--image", QString::fromStdString(image),
                                 "--prompt", "What is the total?", "--max-tokens", "5", "--threads", "2", "--min-pixels", "4096"};
        const auto json_run = run_cli(QStringList{"chat", "--json"} + common);
        QVERIFY2(json_run.exit_code == 0, json_run.err.c_str());
        const auto j = nlohmann::json::parse(json_run.out);
        QVERIFY(j.at("tokens").size() <= 5);
        QCOMPARE(j.at("image_tokens").get<int>(), 6);  // 96x64 at the 4096-pixel minimum: 3x2 merged tokens
        QVERIFY(j.at("timings_ms").at("prefill").get<double>() > 0);
        QVERIFY(j.at("peak_rss_bytes").get<std::uint64_t>() > 0);
        const auto streamed = run_cli(QStringList{"chat"} + common);
        QCOMPARE(streamed.exit_code, 0);
        QCOMPARE(streamed.out, j.at("text").get<std::string>() + "\n");  // greedy: the same answer both times

        const auto bad_image = run_cli({"chat", "--model", QString::fromStdString(folder.string()), "--image", "/nonexistent.png", "--prompt", "x"});
        QCOMPARE(bad_image.exit_code, 1);
        QVERIFY2(bad_image.err.find("/nonexistent.png: cannot open") != std::string::npos, bad_image.err.c_str());
    }

    // pull from a stand-in Hub on 127.0.0.1 (tests/support/fake_hub.py) into the cache HF_HUB_CACHE names; the
    // snapshot's GGUF file (its mmproj beside it) then answers, and offline the cache serves it again.
    void pullThenChatFromTheSnapshot() {
        QProcess server;
        const auto script = data_dir().parent_path() / "support" / "fake_hub.py";
        const auto served = data_dir() / "fixtures" / "tiny-qwen3-vl-gguf";
        server.start("python3", {QString::fromStdString(script.string()), "--repo", QString::fromStdString("org/tiny-gguf=" + served.string())});
        QVERIFY(server.waitForStarted(10000));
        while (!server.canReadLine()) QVERIFY(server.waitForReadyRead(20000));
        const auto port = QString(server.readLine()).trimmed().mid(5);
        const auto cache = QString::fromStdString((std::filesystem::path(dir_.path().toStdString()) / "hf-cache").string());
        const QStringList environment{"HF_ENDPOINT=http://127.0.0.1:" + port, "HF_HUB_CACHE=" + cache, "HF_TOKEN", "HF_HUB_OFFLINE",
                                      "XDG_CACHE_HOME=" + dir_.path()};
        const auto pull = run_cli({"pull", "org/tiny-gguf", "--include", "model-Q8_0.gguf", "--include", "mmproj-*"}, {}, environment);
        server.kill();
        server.waitForFinished(5000);
        QVERIFY2(pull.exit_code == 0, pull.err.c_str());
        const auto snapshot = QString::fromStdString(pull.out).trimmed();
        QVERIFY2(snapshot.startsWith(cache + "/models--org--tiny-gguf/snapshots/"), qPrintable(snapshot));
        QVERIFY2(pull.err.find("mmproj-F32.gguf") != std::string::npos, pull.err.c_str());  // the progress line

        const auto image = (data_dir() / "images" / "tiny-budget.png").string();
        const auto chat = run_cli({"chat", "--json", "--model", snapshot + "/model-Q8_0.gguf", "--image", QString::fromStdString(image),
                                   "--prompt", "What is the total?", "--max-tokens", "4", "--threads", "1"},
                                  {}, environment);
        QVERIFY2(chat.exit_code == 0, chat.err.c_str());
        QVERIFY(nlohmann::json::parse(chat.out).at("image_tokens").get<int>() > 0);

        // The server is gone: offline, the same pull answers from the cache; online it is an error that says so.
        const auto offline = run_cli({"pull", "org/tiny-gguf"}, {}, environment + QStringList{"HF_HUB_OFFLINE=1"});
        QVERIFY2(offline.exit_code == 0, offline.err.c_str());
        QCOMPARE(QString::fromStdString(offline.out).trimmed(), snapshot);
        const auto unreachable = run_cli({"pull", "org/tiny-gguf"}, {}, environment);
        QCOMPARE(unreachable.exit_code, 1);
        QVERIFY2(unreachable.err.find("network error") != std::string::npos, unreachable.err.c_str());
    }

    // End to end through the engine: the DeepStack-L fixture's greedy answer is the authors' computation's.
    void chatRunsDeepStackL() {
        const auto fixtures = deepstack::testing::data_dir() / "fixtures" / "deepstack";
        const auto cases = nlohmann::json::parse(std::ifstream(fixtures / "cases.json"));
        const auto& expected = cases.at("variants").at("deepstack-l");
        const auto run = run_cli({"chat", "--json", "--model", QString::fromStdString((fixtures / "deepstack-l").string()), "--image",
                                  QString::fromStdString((fixtures / expected.at("image").get<std::string>()).string()), "--prompt",
                                  QString::fromStdString(expected.at("question").get<std::string>()), "--max-tokens", "8",
                                  "--dtype", "f32", "--temperature", "0", "--threads", "2"});
        QVERIFY2(run.exit_code == 0, run.err.c_str());
        const auto j = nlohmann::json::parse(run.out);
        const auto tokens = j.at("tokens").get<std::vector<int>>();
        const auto reference = expected.at("greedy_tokens").get<std::vector<int>>();
        QCOMPARE(tokens, std::vector<int>(reference.begin(), reference.begin() + 8));
        QCOMPARE(j.at("image_tokens").get<int>(), expected.at("image_tokens").get<int>());
        QCOMPARE(j.at("prompt_tokens").get<int>(), expected.at("prompt_tokens").get<int>() - 1 + expected.at("image_tokens").get<int>());
    }

    // `attention` writes a heatmap per chosen layer, one more on each entering group's grid, and the numbers.
    void attentionWritesHeatmapsAndNumbers() {
        const auto fixtures = deepstack::testing::data_dir() / "fixtures" / "deepstack";
        const auto cases = nlohmann::json::parse(std::ifstream(fixtures / "cases.json"));
        const auto image = fixtures / cases.at("variants").at("deepstack-l").at("image").get<std::string>();
        const auto out = std::filesystem::path(dir_.path().toStdString()) / "attention";
        const QStringList common{"attention", "--model", QString::fromStdString((fixtures / "deepstack-l").string()), "--image",
                                 QString::fromStdString(image.string()), "--prompt", "What is written here?", "--max-tokens", "4",
                                 "--dtype", "f32", "--threads", "2", "--out", QString::fromStdString(out.string())};
        const auto run = run_cli(common + QStringList{"--layers", "0-2"});
        QVERIFY2(run.exit_code == 0, run.err.c_str());
        for (const char* file : {"layer-00.png", "layer-01.png", "layer-01-group-1.png", "layer-02.png", "layer-02-group-2.png",
                                 "attention.json", "attention.csv", "stack-plan.json"})
            QVERIFY2(std::filesystem::exists(out / file), file);
        QVERIFY(!std::filesystem::exists(out / "layer-03.png"));
        const auto picture = deepstack::load_image(image);
        const auto heat = deepstack::load_image(out / "layer-01.png");
        QCOMPARE(heat.width, picture.width);
        QCOMPARE(heat.height, picture.height);
        const auto numbers = nlohmann::json::parse(std::ifstream(out / "attention.json"));
        QCOMPARE(numbers.at("layers").size(), std::size_t{3});
        QCOMPARE(numbers.at("images")[0].at("plan").at("variant").get<std::string>(), std::string("DeepStack-L"));
        const auto plan = nlohmann::json::parse(std::ifstream(out / "stack-plan.json"));
        QCOMPARE(plan.at("groups").size(), std::size_t{4});

        QCOMPARE(run_cli(common + QStringList{"--layers", "0-9"}).exit_code, 2);  // the model has 6 layers
        QCOMPARE(run_cli(common + QStringList{"--head", "7"}).exit_code, 2);      // and 4 heads
        QCOMPARE(run_cli(common + QStringList{"--tokens", "x"}).exit_code, 2);
    }

    // `ablate` writes the original and the ablated answers' tokens and one score pair per answer token; --each one
    // row per group; a group the plan does not have is a usage error. `stack-map` writes a map per group and JSON.
    void ablateAndStackMap() {
        const auto fixtures = deepstack::testing::data_dir() / "fixtures" / "deepstack";
        const auto cases = nlohmann::json::parse(std::ifstream(fixtures / "cases.json"));
        const auto image = fixtures / cases.at("variants").at("deepstack-l").at("image").get<std::string>();
        const QStringList common{"--model", QString::fromStdString((fixtures / "deepstack-l").string()), "--image",
                                 QString::fromStdString(image.string()), "--prompt", "What is written here?", "--max-tokens", "6",
                                 "--dtype", "f32", "--threads", "2"};
        auto run = run_cli(QStringList{"ablate", "--groups", "1,3", "--each"} + common);
        QVERIFY2(run.exit_code == 0, run.err.c_str());
        const auto j = nlohmann::json::parse(run.out);
        QCOMPARE(j.at("groups").get<std::vector<int>>(), (std::vector<int>{1, 3}));
        QCOMPARE(j.at("changes").size(), j.at("tokens").size());
        QVERIFY(j.at("ablated_tokens").is_array() && !j.at("ablated_tokens").empty());
        QCOMPARE(j.at("each_group").size(), std::size_t{4});
        QCOMPARE(j.at("model").at("variant").get<std::string>(), std::string("DeepStack-L"));
        // Greedy, and the scores are the model's: every original token is the first choice with the stacks.
        for (const auto& c : j.at("changes")) QVERIFY(c.at("margin").get<double>() >= 0);

        run = run_cli(QStringList{"ablate", "--groups", "5"} + common);
        QCOMPARE(run.exit_code, 2);
        QVERIFY2(run.err.find("--groups") != std::string::npos, run.err.c_str());
        run = run_cli(QStringList{"ablate", "--groups", "0"} + common);
        QCOMPARE(run.exit_code, 2);

        const auto out = std::filesystem::path(dir_.path().toStdString()) / "stack-map";
        run = run_cli(QStringList{"stack-map", "--out", QString::fromStdString(out.string())} + common);
        QVERIFY2(run.exit_code == 0, run.err.c_str());
        const auto map = nlohmann::json::parse(std::ifstream(out / "stack-map.json"));
        QVERIFY(!map.at("groups").empty());
        for (const auto& group : map.at("groups")) {
            const auto n = std::to_string(group.at("group").get<int>());
            QVERIFY(std::filesystem::exists(out / ("group-" + n + "-joins.png")));
            QVERIFY(std::filesystem::exists(out / ("group-" + n + "-top.png")));
        }
        const auto heat = deepstack::load_image(out / "group-1-joins.png");
        QCOMPARE(heat.width, deepstack::load_image(image).width);
    }

    // bench says on which CPU and with which BLAS kernels it measured; OpenBLAS runs the best kernels the CPU
    // has unless the user forced others with OPENBLAS_CORETYPE, and then bench says so.
    void benchRecordsTheCpuAndTheKernels() {
        const auto folder = std::filesystem::path(dir_.path().toStdString()) / "bench-qwen";
        write_tiny_folder(folder, tiny_qwen3_vl_config());
        const QStringList bench{"bench", "--model", QString::fromStdString(folder.string()), "--image", "64x48", "--prompt-tokens", "4", "--new-tokens", "2", "--threads", "2"};
        const auto chosen = run_cli(bench, {}, {"OPENBLAS_CORETYPE", "DEEPSTACK_OPENBLAS_DETECTED", "DEEPSTACK_OPENBLAS_CHOSEN"});
        QVERIFY2(chosen.exit_code == 0, chosen.err.c_str());
        const auto j = nlohmann::json::parse(chosen.out);
        QVERIFY(j.at("cpu").at("cores").get<int>() >= 1);
        QVERIFY(j.at("cpu").contains("model") && j.at("cpu").at("features").is_array());
        QVERIFY(j.at("image").at("max_image_pixels").get<std::int64_t>() > 0);
        QVERIFY(!j.at("libtorch_cpu_kernels").get<std::string>().empty());
        if (j.at("libtorch_blas") == "mkl") {  // PyPI's LibTorch: MKL inside it, no OpenBLAS to choose kernels for
            QCOMPARE(j.at("blas").get<std::string>(), j.at("libtorch_blas").get<std::string>() + ", inside LibTorch");
            return;
        }
        QCOMPARE(j.at("blas").at("cpu_could_run").get<std::string>(), std::string());
        QCOMPARE(j.at("blas").at("forced_by_OPENBLAS_CORETYPE").get<std::string>(), std::string());

        const auto forced = run_cli(bench, {}, {"OPENBLAS_CORETYPE=Prescott"});
        QVERIFY2(forced.exit_code == 0, forced.err.c_str());
        const auto f = nlohmann::json::parse(forced.out).at("blas");
        QCOMPARE(f.at("kernels").get<std::string>(), std::string("Prescott"));
        QCOMPARE(f.at("forced_by_OPENBLAS_CORETYPE").get<std::string>(), std::string("Prescott"));
        const auto features = j.at("cpu").at("features").get<std::vector<std::string>>();
        const bool avx2 = std::find(features.begin(), features.end(), "avx2") != features.end();
        QCOMPARE(f.at("cpu_could_run").get<std::string>().empty(), !avx2);
    }

    void usageErrors() {
        QCOMPARE(run_cli({}).exit_code, 2);
        QCOMPARE(run_cli({"frobnicate"}).exit_code, 2);
        QCOMPARE(run_cli({"inspect"}).exit_code, 2);
        QCOMPARE(run_cli({"help"}).exit_code, 0);
        QCOMPARE(run_cli({"chat", "--model"}).exit_code, 2);
        QCOMPARE(run_cli({"bench"}).exit_code, 2);
        QCOMPARE(run_cli({"chat", "--model", "x", "--prompt", "y", "--temperature", "hot"}).exit_code, 2);
        // An option given twice: the later value counts (gpu-check.sh train adds its caller's options after its own).
        QCOMPARE(run_cli({"chat", "--model", "x", "--prompt", "y", "--temperature", "0.5", "--temperature", "hot"}).exit_code, 2);
        QCOMPARE(run_cli({"chat", "--model", "no-such-folder", "--prompt", "y", "--temperature", "hot", "--temperature", "0.5"}).exit_code, 1);
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestCli)

}  // namespace test_cli
#include "test_cli.moc"

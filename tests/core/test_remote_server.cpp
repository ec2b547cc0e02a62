// The remote engine against a real llama-server (llama.cpp from the llama-cpp-python sdist, built by
// installer/build-llama-server.sh; its path comes from the build option DEEPSTACK_LLAMA_SERVER) serving the tiny
// Qwen3-VL GGUF fixture with its mmproj on 127.0.0.1: the model list, a streamed answer equal to the server's own
// non-streamed one, a picture reaching the server, Stop mid-stream, a restored conversation going on, the server
// killed mid-answer, a wrong key.
#include <QProcess>
#include <QtTest>
#include "test_main.h"

#include <chrono>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "deepstack/error.h"
#include "deepstack/remote.h"
#include "net/http.h"
#include "llama_server.h"
#include "prompt_inputs.h"
#include "test_files.h"

namespace test_remote_server {

using namespace deepstack;
using testing::greedy;
using testing::patterned_picture;

namespace {
const std::filesystem::path kFixture = testing::data_dir() / "fixtures" / "tiny-qwen3-vl-gguf";

}  // namespace

class TestRemoteServer : public QObject {
    Q_OBJECT
    std::unique_ptr<testing::LlamaServer> server_;

private Q_SLOTS:
    void initTestCase() {
        server_ = std::make_unique<testing::LlamaServer>();
        QVERIFY2(server_->ready(), qPrintable("llama-server did not start: " + server_->log()));
    }
    void cleanupTestCase() { server_.reset(); }

    void listsItsModel() {
        const auto ids = remote_model_ids(server_->api());
        QVERIFY(std::find(ids.begin(), ids.end(), "tiny-qwen3-vl") != ids.end());
        try {
            (void)connect_remote({server_->api(), "no-such-model", "", 1 << 20});
            QFAIL("a model the server does not serve was accepted");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("does not serve 'no-such-model'") != std::string::npos, e.what());
        }
    }

    // Greedy: the text streamed to us equals the server's own answer to the same request without streaming.
    void streamedAnswerEqualsTheServersOwn() {
        const auto model = connect_remote({server_->api(), "tiny-qwen3-vl", "", 1 << 20});
        auto chat = model->start_conversation();
        std::string streamed;
        const auto result = chat->send({Message::Role::user, "What is the total?", {}}, greedy(16),
                                       {[&](std::string_view piece) { streamed += piece; }, {}});
        QCOMPARE(result.stop, StopReason::max_tokens);
        QCOMPARE(streamed, result.text);
        QVERIFY(!result.text.empty());
        QVERIFY(result.prompt_tokens > 0);

        net::HttpRequest request;
        request.url = server_->api() + "/chat/completions";
        request.headers = {"Content-Type: application/json"};
        request.post_body = nlohmann::json{{"model", "tiny-qwen3-vl"},
                                           {"messages", {{{"role", "user"}, {"content", "What is the total?"}}}},
                                           {"max_tokens", 16},
                                           {"temperature", 0.0},
                                           {"top_p", 1.0}}
                                .dump();
        const auto plain = nlohmann::json::parse(net::http_get_text(request).body);
        QCOMPARE(result.text, plain["choices"][0]["message"]["content"].get<std::string>());
    }

    void aPictureReachesTheServer() {
        const auto model = connect_remote({server_->api(), "tiny-qwen3-vl", "", 1 << 20});
        const auto without = model->start_conversation()->send({Message::Role::user, "Describe it.", {}}, greedy(2));
        const auto with = model->start_conversation()->send({Message::Role::user, "Describe it.", {patterned_picture(128, 96)}}, greedy(2));
        // 128x96 at patch 16 and 2x2 merging: 12 image tokens (and the markers around them).
        QVERIFY2(with.prompt_tokens >= without.prompt_tokens + 12,
                 qPrintable(QString("%1 prompt tokens with the picture, %2 without").arg(with.prompt_tokens).arg(without.prompt_tokens)));
    }

    void stopEndsTheStreamAndKeepsTheTextSoFar() {
        const auto model = connect_remote({server_->api(), "tiny-qwen3-vl", "", 1 << 20});
        auto chat = model->start_conversation();
        std::atomic<bool> stop{false};
        std::chrono::steady_clock::time_point asked;
        const auto result = chat->send({Message::Role::user, "Count to a thousand.", {}}, greedy(3000), {[&](std::string_view) {
                                           if (!stop) asked = std::chrono::steady_clock::now();
                                           stop = true;
                                       },
                                                                                                      {}},
                                       &stop);
        const auto waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count();
        QCOMPARE(result.stop, StopReason::cancelled);
        QVERIFY(!result.text.empty());
        QVERIFY2(waited < 1.0, qPrintable(QString("stop took %1 s").arg(waited)));
        QCOMPARE(chat->turns(), std::size_t{1});
    }

    // A conversation restored from disk (its exchanges replayed) goes on where it was.
    void aRestoredConversationGoesOn() {
        const auto model = connect_remote({server_->api(), "tiny-qwen3-vl", "", 1 << 20});
        auto first = model->start_conversation();
        const auto a = first->send({Message::Role::user, "Hello.", {}}, greedy(6));
        const auto b = first->send({Message::Role::user, "And then?", {}}, greedy(6));
        const auto reconnected = connect_remote({server_->api(), "tiny-qwen3-vl", "", 1 << 20});  // outlives its conversations
        auto restored = reconnected->start_conversation();
        restored->replay({Message::Role::user, "Hello.", {}}, a.text);
        const auto again = restored->send({Message::Role::user, "And then?", {}}, greedy(6));
        QCOMPARE(again.text, b.text);
        QCOMPARE(restored->turns(), std::size_t{2});
        restored->rewind(1);
        QCOMPARE(restored->turns(), std::size_t{1});
    }

    void aServerKilledMidAnswerLeavesThePartialAnswer() {
        testing::LlamaServer doomed;
        QVERIFY(doomed.ready());
        const auto model = connect_remote({doomed.api(), "tiny-qwen3-vl", "", 1 << 20});
        auto chat = model->start_conversation();
        bool killed = false;
        const auto result = chat->send({Message::Role::user, "Count to a thousand.", {}}, greedy(3000), {[&](std::string_view) {
                                           if (!killed) doomed.stop();
                                           killed = true;
                                       },
                                                                                                      {}});
        QCOMPARE(result.stop, StopReason::interrupted);
        QVERIFY(!result.text.empty());
        QCOMPARE(chat->turns(), std::size_t{1});
    }

    void aWrongKeyIsRefused() {
        testing::LlamaServer locked({"--api-key", "sekrit"});
        QVERIFY(locked.ready());
        try {
            (void)connect_remote({locked.api(), "tiny-qwen3-vl", "wrong", 1 << 20});
            QFAIL("a wrong key was accepted");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("401") != std::string::npos, e.what());
        }
        const auto model = connect_remote({locked.api(), "tiny-qwen3-vl", "sekrit", 1 << 20});
        QVERIFY(!model->start_conversation()->send({Message::Role::user, "Hi.", {}}, greedy(2)).text.empty());
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestRemoteServer)

}  // namespace test_remote_server
#include "test_remote_server.moc"

// A real llama-server for the tests of the remote engine (test_remote_server, test_main_window): started on a free
// port of 127.0.0.1 with the tiny Qwen3-VL GGUF fixture and its mmproj (served as "tiny-qwen3-vl"), killed when the
// object goes. The binary is the build option DEEPSTACK_LLAMA_SERVER (installer/build-llama-server.sh).
#pragma once

#include <QProcess>
#include <QStringList>

#include <chrono>
#include <random>
#include <string>
#include <thread>

#include "deepstack/error.h"
#include "net/http.h"
#include "test_files.h"

namespace deepstack::testing {

// A llama-server on a free port, stopped at the end of the scope.
class LlamaServer {
public:
    explicit LlamaServer(const QStringList& extra = {}) {
        std::mt19937 rng(static_cast<unsigned>(std::chrono::steady_clock::now().time_since_epoch().count()));
        for (int attempt = 0; attempt < 5 && !ready_; ++attempt) {
            port_ = 20000 + static_cast<int>(rng() % 20000);
            process_.setProcessChannelMode(QProcess::MergedChannels);
            process_.start(DEEPSTACK_LLAMA_SERVER, QStringList{"-m", QString::fromStdString((data_dir() / "fixtures" / "tiny-qwen3-vl-gguf" / "model-Q8_0.gguf").string()), "--mmproj",
                                                               QString::fromStdString((data_dir() / "fixtures" / "tiny-qwen3-vl-gguf" / "mmproj-F32.gguf").string()), "--host",
                                                               "127.0.0.1", "--port", QString::number(port_), "-c", "4096", "-t", "2",
                                                               "--no-warmup", "-a", "tiny-qwen3-vl"} +
                                                       extra);
            if (!process_.waitForStarted(10000)) break;
            for (int i = 0; i < 100 && process_.state() == QProcess::Running; ++i) {
                net::HttpRequest health;
                health.url = url() + "/health";
                try {
                    if (net::http_get_text(health).response.status == 200) {
                        ready_ = true;
                        break;
                    }
                } catch (const Error&) {
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
            }
            if (!ready_) stop();
        }
    }
    ~LlamaServer() { stop(); }
    void stop() {
        process_.kill();
        process_.waitForFinished(5000);
    }
    bool ready() const { return ready_; }
    QString log() { return QString::fromUtf8(process_.readAll()); }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::string api() const { return url() + "/v1"; }

private:
    QProcess process_;
    int port_ = 0;
    bool ready_ = false;
};
}  // namespace deepstack::testing

// Downloads from the Hugging Face Hub against a stand-in on 127.0.0.1 (tests/support/fake_hub.py, started here
// and stopped at the end; nothing leaves this machine): the cache layout huggingface_hub uses, resuming after a
// dropped connection and after a killed run byte for byte, a full disk, a file that does not verify deleted and reported,
// tokens (and never sent to the CDN's host), 404, a busy Hub, Cancel within a second on a server that trickles,
// offline use of the cache, --include.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include "test_main.h"

#include <sys/resource.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "deepstack/error.h"
#include "deepstack/hub.h"
#include "net/http.h"
#include "test_files.h"

namespace test_hub {

using namespace deepstack;

namespace {
const std::filesystem::path kServedFolder = testing::data_dir() / "fixtures" / "tiny-qwen3-vl-gguf";

std::string bytes_of(const std::filesystem::path& path) { return testing::read_file(path); }
}  // namespace

class TestHub : public QObject {
    Q_OBJECT
    QProcess server_;
    std::string endpoint_;
    std::string commit_;
    QTemporaryDir twins_;  // served as org/twins: two paths with the same content

    void control(const nlohmann::json& faults) {
        // The core's client only GETs; the control POST goes through Python's.
        QProcess post;
        post.start("python3", {"-c",
                               "import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), method='POST')).read()",
                               QString::fromStdString(endpoint_ + (faults.is_null() ? "/_reset" : "/_control")),
                               QString::fromStdString(faults.is_null() ? "{}" : faults.dump())});
        QVERIFY(post.waitForFinished(10000));
        QCOMPARE(post.exitCode(), 0);
    }
    nlohmann::json requests() {
        net::HttpRequest request;
        request.url = endpoint_ + "/_log";
        return nlohmann::json::parse(net::http_get_text(request).body);
    }
    HubSettings settings(const QTemporaryDir& cache) const {
        HubSettings s;
        s.endpoint = endpoint_;
        s.cache = cache.path().toStdString();
        return s;
    }

private Q_SLOTS:
    void initTestCase() {
        const auto script = testing::data_dir().parent_path() / "support" / "fake_hub.py";
        const std::filesystem::path twins = twins_.path().toStdString();
        std::filesystem::create_directories(twins / "copy");
        std::string shard(3 << 20, '\0');
        for (std::size_t i = 0; i < shard.size(); ++i) shard[i] = static_cast<char>((i * 2654435761u) >> 13);
        std::ofstream(twins / "model.safetensors", std::ios::binary) << shard;
        std::ofstream(twins / "copy" / "model.safetensors", std::ios::binary) << shard;
        server_.start("python3", {QString::fromStdString(script.string()), "--repo", QString::fromStdString("org/tiny=" + kServedFolder.string()),
                                  "--repo", QString::fromStdString("org/tiny-gguf=" + kServedFolder.string()), "--repo",
                                  QString::fromStdString("org/twins=" + twins.string())});
        QVERIFY2(server_.waitForStarted(10000), "python3 could not be started");
        QVERIFY(server_.waitForReadyRead(20000));
        while (!server_.canReadLine()) QVERIFY(server_.waitForReadyRead(20000));
        const auto port = QString(server_.readLine()).trimmed();
        QVERIFY2(port.startsWith("PORT "), qPrintable(port));
        endpoint_ = "http://127.0.0.1:" + port.mid(5).toStdString();
        while (!server_.canReadLine()) QVERIFY(server_.waitForReadyRead(20000));
        const auto repo = QString(server_.readLine()).trimmed().split(' ');
        commit_ = repo.value(2).toStdString();
        QCOMPARE(commit_.size(), std::size_t{40});
    }
    void cleanupTestCase() {
        server_.kill();
        server_.waitForFinished(5000);
    }
    void init() { control(nullptr); }

    void downloadsIntoTheHubCacheLayout() {
        QTemporaryDir cache;
        const auto snapshot = hub_download(settings(cache), "org/tiny", "main", {});
        const std::filesystem::path root = cache.path().toStdString();
        QCOMPARE(snapshot, root / "models--org--tiny" / "snapshots" / commit_);
        QCOMPARE(bytes_of(root / "models--org--tiny" / "refs" / "main"), commit_);
        int files = 0;
        for (const auto& entry : std::filesystem::directory_iterator(kServedFolder)) {
            const auto link = snapshot / entry.path().filename();
            QVERIFY2(std::filesystem::is_symlink(link), link.c_str());
            // A relative link into blobs/, named by the sha256 (LFS files) or the git blob id (the others).
            const auto target = std::filesystem::read_symlink(link);
            QCOMPARE(target.parent_path(), std::filesystem::path("../../blobs"));
            const bool lfs = entry.path().extension() == ".gguf" || entry.path().extension() == ".safetensors";
            QCOMPARE(target.filename().string().size(), lfs ? std::size_t{64} : std::size_t{40});
            QVERIFY2(bytes_of(link) == bytes_of(entry.path()), link.c_str());
            ++files;
        }
        QCOMPARE(files, 7);
        // Nothing half-written is left.
        for (const auto& blob : std::filesystem::directory_iterator(root / "models--org--tiny" / "blobs"))
            QVERIFY2(blob.path().extension() != ".incomplete", blob.path().c_str());
        // A second download fetches nothing.
        control(nullptr);
        (void)hub_download(settings(cache), "org/tiny", "main", {});
        for (const auto& r : requests()) QVERIFY2(r["path"].get<std::string>().find("/resolve/") == std::string::npos, r.dump().c_str());
    }

    // The same repository fetched by Python's huggingface_hub (tests/reference/make_hub_cache_fixture.py) left this
    // tree: every blob, link target and ref must be the same, so that either finds the other's downloads.
    void cacheLayoutEqualsHuggingFaceHubs() {
        QTemporaryDir cache;
        (void)hub_download(settings(cache), "org/tiny-gguf", "main", {});
        const auto reference = nlohmann::json::parse(testing::read_file(testing::data_dir() / "fixtures" / "hub-cache-layout.json"));
        const std::filesystem::path root = std::filesystem::path(cache.path().toStdString()) / "models--org--tiny-gguf";
        nlohmann::json ours = nlohmann::json::object();
        for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
            const auto rel = entry.path().lexically_relative(root).generic_string();
            if (entry.is_symlink()) ours[rel] = {{"link", std::filesystem::read_symlink(entry.path()).string()}};
            else if (entry.is_directory()) ours[rel] = {{"folder", true}};
            else if (rel.rfind("refs/", 0) == 0) ours[rel] = {{"ref", testing::read_file(entry.path())}};
            else ours[rel] = {{"size", entry.file_size()}};
        }
        QCOMPARE(QString::fromStdString(ours.dump(1)), QString::fromStdString(reference.at("tree").dump(1)));
    }

    void resumesAfterADroppedConnection() {
        QTemporaryDir cache;
        control({{"drop_after", 100000}});
        const auto snapshot = hub_download(settings(cache), "org/tiny", "main", {"mmproj-F32.gguf"});
        QVERIFY(bytes_of(snapshot / "mmproj-F32.gguf") == bytes_of(kServedFolder / "mmproj-F32.gguf"));
        bool resumed = false;
        for (const auto& r : requests()) resumed |= r["range"].is_string() && r["range"] == "bytes=100000-";
        QVERIFY2(resumed, requests().dump().c_str());
    }

    void resumesWhatAKilledRunLeft() {
        QTemporaryDir cache;
        const std::filesystem::path blobs = std::filesystem::path(cache.path().toStdString()) / "models--org--tiny" / "blobs";
        std::filesystem::create_directories(blobs);
        const auto whole = bytes_of(kServedFolder / "model-Q8_0.gguf");
        const auto sha = std::filesystem::read_symlink(hub_download(settings(cache), "org/tiny", "main", {"model-Q8_0.gguf"}) / "model-Q8_0.gguf").filename().string();
        std::filesystem::remove(blobs / sha);
        testing::write_file(blobs / (sha + ".incomplete"), whole.substr(0, 123457));
        control(nullptr);
        const auto snapshot = hub_download(settings(cache), "org/tiny", "main", {"model-Q8_0.gguf"});
        QVERIFY(bytes_of(snapshot / "model-Q8_0.gguf") == whole);
        bool resumed = false;
        for (const auto& r : requests()) resumed |= r["range"].is_string() && r["range"] == "bytes=123457-";
        QVERIFY2(resumed, requests().dump().c_str());
    }

    // A full disk, met through the file-size limit (a write past it fails as on a full disk, with EFBIG): the
    // download stops with the file named, nothing unverified is linked into the snapshot or named as a blob, and
    // once there is room the same request resumes from what was written and completes.
    void aFullDiskStopsTheDownloadAndLeavesNothingInUse() {
        QTemporaryDir cache;
        const std::filesystem::path root = cache.path().toStdString();
        const std::vector<std::string> files{"tokenizer.json", "model-Q8_0.gguf"};
        constexpr rlim_t kRoom = 300000;  // the tokenizer fits, the 2.1 MB model does not
        std::optional<Error> failure;
        {
            rlimit saved{};
            QCOMPARE(::getrlimit(RLIMIT_FSIZE, &saved), 0);
            const auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);  // the failed write() is what is wanted
            rlimit small = saved;
            small.rlim_cur = kRoom;
            const bool limited = ::setrlimit(RLIMIT_FSIZE, &small) == 0;
            if (limited) {
                try {
                    (void)hub_download(settings(cache), "org/tiny", "main", files);
                } catch (const Error& e) {
                    failure = e;
                }
            }
            // Restored before any check can leave this function.
            const bool restored = ::setrlimit(RLIMIT_FSIZE, &saved) == 0;
            std::signal(SIGXFSZ, previous_handler);
            QVERIFY(limited);
            QVERIFY(restored);
        }
        QVERIFY2(failure.has_value(), "a download larger than the room on the disk succeeded");
        QCOMPARE(failure->kind(), ErrorKind::io);
        QVERIFY2(std::string(failure->what()).find("could not be written (is the disk full?)") != std::string::npos, failure->what());
        QVERIFY(!std::filesystem::exists(root / "models--org--tiny" / "snapshots" / commit_ / "model-Q8_0.gguf"));
        // Every file named as a blob is one of the served files, whole.
        for (const auto& blob : std::filesystem::directory_iterator(root / "models--org--tiny" / "blobs")) {
            if (blob.path().extension() == ".incomplete") continue;
            const auto bytes = bytes_of(blob.path());
            QVERIFY2(bytes == bytes_of(kServedFolder / "tokenizer.json") || bytes == bytes_of(kServedFolder / "model-Q8_0.gguf"),
                     blob.path().c_str());
        }

        control(nullptr);
        const auto snapshot = hub_download(settings(cache), "org/tiny", "main", files);
        QVERIFY(bytes_of(snapshot / "model-Q8_0.gguf") == bytes_of(kServedFolder / "model-Q8_0.gguf"));
        QVERIFY(bytes_of(snapshot / "tokenizer.json") == bytes_of(kServedFolder / "tokenizer.json"));
        bool resumed = false;
        for (const auto& r : requests()) resumed |= r["range"].is_string() && r["range"] != "bytes=0-";
        QVERIFY2(resumed, requests().dump().c_str());
    }

    // Several files are fetched at once: the stand-in holds each transfer until three are under way together (at
    // most 10 s each) and logs whether they met; one at a time, none would.
    void severalFilesDownloadAtOnce() {
        QTemporaryDir cache;
        const std::vector<std::string> files{"model-BF16.gguf", "model-Q8_0.gguf", "model-Q4_K_M.gguf"};
        control({{"together", 3}});
        const auto snapshot = hub_download(settings(cache), "org/tiny", "main", files);
        for (const auto& f : files) QVERIFY2(bytes_of(snapshot / f) == bytes_of(kServedFolder / f), f.c_str());
        int met = 0, alone = 0;
        for (const auto& r : requests())
            if (r["path"] == "/_together") ++(r["met"].get<bool>() ? met : alone);
        QCOMPARE(met, 3);
        QCOMPARE(alone, 0);
    }

    // Two paths with the same content share one blob: it is fetched once (two workers appending to one partial file
    // would make a blob longer than its hash says) and linked under both names.
    void twoPathsWithTheSameContentAreFetchedOnce() {
        QTemporaryDir cache;
        const auto snapshot = hub_download(settings(cache), "org/twins", "main", {});
        const auto served = bytes_of(std::filesystem::path(twins_.path().toStdString()) / "model.safetensors");
        QVERIFY(bytes_of(snapshot / "model.safetensors") == served);
        QVERIFY(bytes_of(snapshot / "copy" / "model.safetensors") == served);
        int fetches = 0;
        for (const auto& r : requests()) fetches += r["path"].get<std::string>().find("/resolve/") != std::string::npos;
        QCOMPARE(fetches, 1);
    }

    void aFileThatDoesNotVerifyIsDeletedAndReported() {
        QTemporaryDir cache;
        control({{"corrupt", "tokenizer.json"}});
        try {
            (void)hub_download(settings(cache), "org/tiny", "main", {"tokenizer.json"});
            QFAIL("a corrupted file was accepted");
        } catch (const Error& e) {
            QCOMPARE(e.kind(), ErrorKind::network);
            QVERIFY2(std::string(e.what()).find("does not verify") != std::string::npos, e.what());
            QVERIFY2(std::string(e.what()).find("tokenizer.json") != std::string::npos, e.what());
        }
        const std::filesystem::path root = cache.path().toStdString();
        for (const auto& blob : std::filesystem::directory_iterator(root / "models--org--tiny" / "blobs")) QFAIL(blob.path().c_str());
        QVERIFY(!std::filesystem::exists(root / "models--org--tiny" / "snapshots" / commit_ / "tokenizer.json"));
    }

    void aTokenIsAskedForAndNeverSentToTheCdn() {
        QTemporaryDir cache;
        control({{"token", "hf_secret"}});
        auto s = settings(cache);
        try {
            (void)hub_download(s, "org/tiny", "main", {});
            QFAIL("a gated repository was fetched without a token");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("asks for an access token (401)") != std::string::npos, e.what());
        }
        s.token = "wrong";
        try {
            (void)hub_download(s, "org/tiny", "main", {});
            QFAIL("a wrong token was accepted");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("refused the access token") != std::string::npos, e.what());
        }
        s.token = "hf_secret";
        const auto snapshot = hub_download(s, "org/tiny", "main", {"model-Q4_K_M.gguf", "config*.json", "tokenizer.json"});
        QVERIFY(bytes_of(snapshot / "model-Q4_K_M.gguf") == bytes_of(kServedFolder / "model-Q4_K_M.gguf"));
        int cdn = 0;
        for (const auto& r : requests())
            if (r["path"].get<std::string>().rfind("/cdn/", 0) == 0) {
                ++cdn;
                QVERIFY2(!r["authorization"].get<bool>(), r.dump().c_str());
                QVERIFY2(r["host"].get<std::string>().rfind("localhost:", 0) == 0, r.dump().c_str());
            }
        QCOMPARE(cdn, 1);
    }

    void aMissingRepositoryIs404() {
        QTemporaryDir cache;
        try {
            (void)hub_download(settings(cache), "org/none", "main", {});
            QFAIL("a missing repository was accepted");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("not found (404)") != std::string::npos, e.what());
        }
        try {
            (void)hub_download(settings(cache), "../../etc", "main", {});
            QFAIL("a path was accepted as a repository id");
        } catch (const Error& e) {
            QCOMPARE(e.kind(), ErrorKind::config);
        }
    }

    void aBusyHubSaysWhenToTryAgain() {
        QTemporaryDir cache;
        control({{"busy", true}});
        try {
            (void)hub_download(settings(cache), "org/tiny", "main", {});
            QFAIL("a busy answer was taken");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("busy (503)") != std::string::npos, e.what());
            QVERIFY2(std::string(e.what()).find("after 7 s") != std::string::npos, e.what());
        }
    }

    void cancelStopsATricklingDownloadWithinASecond() {
        QTemporaryDir cache;
        control({{"slow", true}});
        std::atomic<bool> cancel{false};
        std::optional<Error> failure;
        std::chrono::steady_clock::time_point returned;
        std::thread download([&] {
            try {
                (void)hub_download(settings(cache), "org/tiny", "main", {"model-BF16.gguf"}, {}, &cancel);
            } catch (const Error& e) {
                failure = e;
            }
            returned = std::chrono::steady_clock::now();
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(2500));
        const auto asked = std::chrono::steady_clock::now();
        cancel = true;
        download.join();
        const auto waited = std::chrono::duration<double>(returned - asked).count();
        QVERIFY(failure.has_value());
        QCOMPARE(failure->kind(), ErrorKind::cancelled);
        QVERIFY2(waited < 1.0, qPrintable(QString("cancel took %1 s").arg(waited)));
        // What arrived stays for the next attempt.
        bool partial = false;
        for (const auto& blob : std::filesystem::directory_iterator(std::filesystem::path(cache.path().toStdString()) / "models--org--tiny" / "blobs"))
            partial |= blob.path().extension() == ".incomplete" && std::filesystem::file_size(blob.path()) > 0;
        QVERIFY(partial);
    }

    void offlineUsesWhatTheCacheHolds() {
        QTemporaryDir cache;
        auto s = settings(cache);
        s.offline = true;
        try {
            (void)hub_download(s, "org/tiny", "main", {});
            QFAIL("offline with an empty cache returned something");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("HF_HUB_OFFLINE") != std::string::npos, e.what());
        }
        s.offline = false;
        const auto snapshot = hub_download(s, "org/tiny", "main", {"*.json"});
        s.offline = true;
        control(nullptr);
        QCOMPARE(hub_download(s, "org/tiny", "main", {}), snapshot);
        QCOMPARE(*hub_cached_snapshot(s, "org/tiny", "main"), snapshot);
        QVERIFY(requests().empty());
        // --include: only the JSON files were linked.
        QVERIFY(std::filesystem::exists(snapshot / "tokenizer.json"));
        QVERIFY(!std::filesystem::exists(snapshot / "model-BF16.gguf"));
        const auto cached = hub_cached_models(s);
        QCOMPARE(cached.size(), std::size_t{1});
        QCOMPARE(cached.front().repo, std::string("org/tiny"));
        QCOMPARE(cached.front().commit, commit_);
    }

    void settingsComeFromTheEnvironment() {
        QTemporaryDir home;
        const std::filesystem::path root = home.path().toStdString();
        qputenv("HF_HOME", home.path().toUtf8());
        qputenv("HF_ENDPOINT", "http://mirror.example/");
        qunsetenv("HF_HUB_CACHE");
        qunsetenv("HF_TOKEN");
        qputenv("HF_HUB_OFFLINE", "1");
        testing::write_file(root / "token", "hf_from_file\n");
        const auto s = hub_settings_from_environment();
        QCOMPARE(s.endpoint, std::string("http://mirror.example"));
        QCOMPARE(s.cache, root / "hub");
        QCOMPARE(s.token.value_or(""), std::string("hf_from_file"));
        QVERIFY(s.offline);
        qunsetenv("HF_HOME");
        qunsetenv("HF_ENDPOINT");
        qunsetenv("HF_HUB_OFFLINE");
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestHub)

}  // namespace test_hub
#include "test_hub.moc"

// Crash-safe writes (io/durable.h): a file is the old version or the new one whatever moment the writer is killed
// (a child process writing versions in a loop, SIGKILLed at random moments, many times); a failed write keeps the old
// file and says why; a folder is swapped in whole.
#include <QTemporaryDir>
#include <QtTest>
#include "test_main.h"

#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <random>
#include <string>

#include "deepstack/error.h"
#include "io/durable.h"
#include "test_files.h"

namespace test_durable {

using namespace deepstack;

namespace {
// Version n: a header with n and the length, then n's bytes; a torn file fails the check.
std::string version(int n) {
    const std::string body(100000 + (n % 7) * 30000, static_cast<char>('a' + n % 26));
    return "v" + std::to_string(n) + " " + std::to_string(body.size()) + "\n" + body;
}
bool whole_version(const std::string& text) {
    const auto newline = text.find('\n');
    if (text.empty() || text[0] != 'v' || newline == std::string::npos) return false;
    const int n = std::stoi(text.substr(1));
    return text == version(n);
}
}  // namespace

class TestDurable : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void aKilledWriterLeavesTheOldOrTheNewVersion() {
        QTemporaryDir dir;
        const auto file = std::filesystem::path(dir.path().toStdString()) / "conversation.json";
        io::write_file_durably(file, version(0));
        std::mt19937 rng(7);
        for (int round = 0; round < 40; ++round) {
            const pid_t child = fork();
            if (child == 0) {
                for (int n = 1;; ++n) io::write_file_durably(file, version(n));
            }
            usleep(1000 + rng() % 20000);
            kill(child, SIGKILL);
            int status = 0;
            waitpid(child, &status, 0);
            const auto text = testing::read_file(file);
            QVERIFY2(whole_version(text), qPrintable(QString("round %1: a torn file of %2 bytes").arg(round).arg(text.size())));
        }
    }

    void aFailedWriteKeepsTheOldFileAndSaysWhy() {
        QTemporaryDir dir;
        const auto file = std::filesystem::path(dir.path().toStdString()) / "missing-folder" / "settings.json";
        try {
            io::write_file_durably(file, "new");
            QFAIL("a write into a folder that does not exist succeeded");
        } catch (const Error& e) {
            QCOMPARE(e.kind(), ErrorKind::io);
            QVERIFY2(std::string(e.what()).find("settings.json") != std::string::npos, e.what());
        }
    }

    void aFolderIsSwappedInWhole() {
        QTemporaryDir dir;
        const std::filesystem::path root = dir.path().toStdString();
        std::filesystem::create_directories(root / "staged");
        testing::write_file(root / "staged" / "state.json", "{\"step\": 1}");
        io::replace_folder(root / "staged", root / "checkpoint");  // no checkpoint yet: a rename
        QCOMPARE(testing::read_file(root / "checkpoint" / "state.json"), std::string("{\"step\": 1}"));
        std::filesystem::create_directories(root / "staged");
        testing::write_file(root / "staged" / "state.json", "{\"step\": 2}");
        testing::write_file(root / "staged" / "weights.safetensors", "w2");
        io::replace_folder(root / "staged", root / "checkpoint");  // an exchange, then the old one goes
        QCOMPARE(testing::read_file(root / "checkpoint" / "state.json"), std::string("{\"step\": 2}"));
        QCOMPARE(testing::read_file(root / "checkpoint" / "weights.safetensors"), std::string("w2"));
        QVERIFY(!std::filesystem::exists(root / "staged"));
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestDurable)

}  // namespace test_durable
#include "test_durable.moc"

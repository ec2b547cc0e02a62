// The GGUF reader against a file written by the gguf package's own writer (tests/reference/make_gguf_fixture.py):
// every metadata type, arrays, tensor shapes in PyTorch's order, types, sizes, offsets and data (dequantized as
// the package does); and damaged files: every truncation, and random byte flips in the header, give an Error
// that names the file, never a crash, a hang or a huge allocation.
#include <QtTest>
#include "test_main.h"

#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "deepstack/error.h"
#include "deepstack/gguf.h"
#include "quant/formats.h"
#include "test_files.h"

namespace test_gguf {

using namespace deepstack;

namespace {
const std::filesystem::path kDir = testing::data_dir() / "fixtures" / "gguf";

std::vector<char> read_all(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_all(const std::filesystem::path& file, const std::vector<char>& bytes, std::size_t count) {
    std::ofstream(file, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(count));
}
}  // namespace

class TestGguf : public QObject {
    Q_OBJECT
    nlohmann::json expected_;

private Q_SLOTS:
    void initTestCase() { expected_ = nlohmann::json::parse(std::ifstream(kDir / "small.json")); }

    void metadataOfEveryType() {
        const auto file = GgufFile::open(kDir / "small.gguf");
        QCOMPARE(file.version(), std::uint32_t{3});
        QCOMPARE(file.alignment(), std::uint64_t{32});
        for (const auto& [key, value] : expected_["metadata"].items()) {
            QVERIFY2(file.has(key), key.c_str());
            const auto& got = file.metadata()[key];
            if (value.is_number_float()) QCOMPARE(got.get<double>(), value.get<double>());
            else QVERIFY2(got == value, (key + ": " + got.dump() + " vs " + value.dump()).c_str());
        }
        QCOMPARE(file.string("general.architecture"), std::string("qwen3vl"));
        QCOMPARE(file.integer("test.i64"), -(std::int64_t{1} << 62) - 1);
        QCOMPARE(file.number("test.f32"), 0.5);
        QVERIFY_THROWS_EXCEPTION(Error, (void)file.string("test.u8"));  // another type
        QVERIFY_THROWS_EXCEPTION(Error, (void)file.integer("no.such.key"));
    }

    void tensorDirectoryAndData() {
        const auto file = GgufFile::open(kDir / "small.gguf");
        QCOMPARE(file.tensors().size(), expected_["tensors"].size());
        for (const auto& [name, want] : expected_["tensors"].items()) {
            const auto* t = file.find(name);
            QVERIFY2(t != nullptr, name.c_str());
            QCOMPARE(t->shape, want["shape"].get<std::vector<std::int64_t>>());
            QCOMPARE(t->type_name, want["type"].get<std::string>());
            QCOMPARE(t->offset % file.alignment(), std::uint64_t{0});
            std::int64_t elements = 1;
            for (const auto n : t->shape) elements *= n;
            if (want.contains("dequantized")) {
                const auto format = *quant::format_from_ggml_type(t->ggml_type);
                QCOMPARE(t->bytes, static_cast<std::uint64_t>(elements / quant::traits(format).block_size * quant::traits(format).block_bytes));
                const auto values = quant::dequantize(format, file.data(*t), elements);
                const auto reference = want["dequantized"].get<std::vector<float>>();
                QCOMPARE(values, reference);
            }
        }
        const auto* f32 = file.find("t.f32");
        const auto data = file.data(*f32);
        QCOMPARE(data.size(), std::size_t{3 * 64 * 4});
        std::vector<float> first(64);
        std::memcpy(first.data(), data.data(), 64 * 4);
        QCOMPARE(first, expected_["f32_first_row"].get<std::vector<float>>());
        QVERIFY(file.find("no.such.tensor") == nullptr);
    }

    // Every prefix of the file is refused with an Error naming it (the tensor data comes last, so even a file cut
    // inside the data is caught: its last tensor runs past the end).
    void everyTruncationIsAnError() {
        const auto bytes = read_all(kDir / "small.gguf");
        QTemporaryDir dir;
        const std::filesystem::path cut = std::filesystem::path(dir.path().toStdString()) / "cut.gguf";
        for (std::size_t length = 0; length < bytes.size(); length += (length < 600 ? 1 : 37)) {
            write_all(cut, bytes, length);
            try {
                (void)GgufFile::open(cut);
                QFAIL(qPrintable(QString("a file cut to %1 of %2 bytes was accepted").arg(length).arg(bytes.size())));
            } catch (const Error& e) {
                QVERIFY2(std::string(e.what()).find("cut.gguf") != std::string::npos, e.what());
            }
        }
    }

    // Random damage to the header (the first 600 bytes: counts, lengths, types, dimensions, offsets): each file
    // either reads (the damage hit a harmless byte) or gives an Error; the sanitizer builds check for the rest.
    void damagedHeadersNeverCrash() {
        const auto bytes = read_all(kDir / "small.gguf");
        QTemporaryDir dir;
        const std::filesystem::path damaged = std::filesystem::path(dir.path().toStdString()) / "damaged.gguf";
        std::mt19937 rng(99);
        int refused = 0;
        for (int round = 0; round < 400; ++round) {
            auto copy = bytes;
            const int flips = 1 + static_cast<int>(rng() % 4);
            for (int i = 0; i < flips; ++i) copy[rng() % 600] = static_cast<char>(rng() & 0xff);
            write_all(damaged, copy, copy.size());
            try {
                const auto file = GgufFile::open(damaged);
                for (const auto& t : file.tensors()) QVERIFY(t.offset + t.bytes <= copy.size());
            } catch (const Error&) {
                ++refused;
            }
        }
        QVERIFY2(refused > 100, qPrintable(QString::number(refused)));  // most damage is caught
    }

    void notAGgufFile() {
        QTemporaryDir dir;
        const std::filesystem::path path = std::filesystem::path(dir.path().toStdString()) / "model.safetensors";
        std::ofstream(path) << "{\"not\": \"gguf\"}";
        try {
            (void)GgufFile::open(path);
            QFAIL("a JSON file was read as GGUF");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("does not start with \"GGUF\"") != std::string::npos, e.what());
        }
        QCOMPARE(ggml_type_name(14).value_or(""), std::string("Q6_K"));
        QVERIFY(!ggml_type_name(5));  // removed from GGML long ago
    }
};

DEEPSTACK_TEST_APPLESS_MAIN(TestGguf)

}  // namespace test_gguf
#include "test_gguf.moc"

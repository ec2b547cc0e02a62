// The safetensors reader: round trips of files the test writes, sharded indexes, and a table of broken files
// that must each give their own clear error and never crash. Torch-free: also built with ASan and UBSan.
#include <QTemporaryDir>
#include <QtTest>
#include "test_main.h"

#include <cstring>
#include <numeric>

#include "deepstack/error.h"
#include "deepstack/safetensors.h"
#include "test_files.h"

namespace test_safetensors {

using namespace deepstack;
using deepstack::testing::safetensors_bytes;
using deepstack::testing::write_file;
using deepstack::testing::write_json;

namespace {
const std::vector<DType> kAllDTypes = {DType::boolean, DType::u8,      DType::i8,      DType::u16, DType::i16,
                                       DType::u32,     DType::i32,     DType::u64,     DType::i64, DType::f8_e4m3,
                                       DType::f8_e5m2, DType::f16,     DType::bf16,    DType::f32, DType::f64};

std::vector<std::byte> pattern(std::size_t n, int seed) {
    std::vector<std::byte> bytes(n);
    for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<std::byte>((i * 31 + static_cast<std::size_t>(seed) * 7) & 0xff);
    return bytes;
}

// Runs `open` and returns the Error it throws; fails the test if it does not throw one.
template <typename Open>
Error expect_error(Open&& open) {
    try {
        open();
    } catch (const Error& e) {
        return e;
    }
    throw std::runtime_error("no deepstack::Error was thrown");
}
}  // namespace

class TestSafetensors : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::filesystem::path path(const char* name) const { return std::filesystem::path(dir_.path().toStdString()) / name; }

private Q_SLOTS:
    void initTestCase() { QVERIFY(dir_.isValid()); }

    void dtypeNamesRoundTrip() {
        for (const auto dtype : kAllDTypes) {
            const auto parsed = dtype_from_name(dtype_name(dtype));
            QVERIFY(parsed.has_value());
            QCOMPARE(static_cast<int>(*parsed), static_cast<int>(dtype));
        }
        QVERIFY(!dtype_from_name("Q4_K").has_value());
        QCOMPARE(dtype_size(DType::bf16), std::size_t{2});
        QCOMPARE(dtype_size(DType::f64), std::size_t{8});
    }

    void roundTripEveryDType() {
        std::vector<std::vector<std::byte>> storage;
        std::vector<TensorToWrite> tensors;
        int seed = 0;
        for (const auto dtype : kAllDTypes) {
            const Shape shape{2, 3};
            storage.push_back(pattern(6 * dtype_size(dtype), ++seed));
            tensors.push_back({"t." + std::string(dtype_name(dtype)), dtype, shape, storage.back()});
        }
        storage.push_back({});
        tensors.push_back({"empty", DType::f32, {0, 4}, storage.back()});
        storage.push_back(pattern(4, 99));
        tensors.push_back({"scalar", DType::f32, {}, storage.back()});
        write_safetensors(path("all.safetensors"), tensors, {{"format", "pt"}});

        const auto file = SafetensorsFile::open(path("all.safetensors"));
        QCOMPARE(file.tensors().size(), tensors.size());
        QCOMPARE(file.metadata().at("format"), std::string("pt"));
        QCOMPARE(file.header_size() % 8, std::uint64_t{0});
        for (std::size_t i = 0; i < tensors.size(); ++i) {
            const auto view = file.view(tensors[i].name);
            QCOMPARE(static_cast<int>(view.dtype()), static_cast<int>(tensors[i].dtype));
            QCOMPARE(view.shape(), tensors[i].shape);
            QCOMPARE(view.nbytes(), std::uint64_t{tensors[i].bytes.size()});
            QVERIFY(view.nbytes() == 0 || std::memcmp(view.data, tensors[i].bytes.data(), view.nbytes()) == 0);
        }
        // Views point into one mapping at the header's offsets: nothing was copied.
        const auto a = file.view("t.F32"), b = file.view("t.F64");
        QCOMPARE(static_cast<std::int64_t>(b.data - a.data),
                 static_cast<std::int64_t>(b.info->begin) - static_cast<std::int64_t>(a.info->begin));
        QVERIFY(file.contains("scalar"));
        QVERIFY(!file.contains("absent"));
        const auto missing = expect_error([&] { (void)file.view("absent"); });
        QCOMPARE(missing.tensor(), std::string("absent"));
    }

    void viewsOutliveTheirFile() {
        std::vector<std::byte> bytes = pattern(16, 3);
        write_safetensors(path("alive.safetensors"), {{"w", DType::f32, {4}, bytes}});
        TensorView view;
        {
            const auto file = SafetensorsFile::open(path("alive.safetensors"));
            view = file.view("w");
        }
        QVERIFY(std::memcmp(view.data, bytes.data(), 16) == 0);
    }

    void shardedCheckpoint() {
        const auto folder = path("sharded");
        std::filesystem::create_directories(folder);
        const auto one = pattern(8, 1), two = pattern(12, 2), three = pattern(4, 3);
        write_safetensors(folder / "model-00001-of-00002.safetensors", {{"a", DType::bf16, {2, 2}, one}, {"b", DType::u8, {4}, three}});
        write_safetensors(folder / "model-00002-of-00002.safetensors", {{"c", DType::f32, {3}, two}});
        write_json(folder / "model.safetensors.index.json",
                   {{"metadata", {{"total_size", 24}}},
                    {"weight_map", {{"a", "model-00001-of-00002.safetensors"}, {"b", "model-00001-of-00002.safetensors"},
                                    {"c", "model-00002-of-00002.safetensors"}}}});
        const auto checkpoint = Checkpoint::open(folder);
        QCOMPARE(checkpoint.files().size(), std::size_t{2});
        QCOMPARE(checkpoint.names(), (std::vector<std::string>{"a", "b", "c"}));
        QCOMPARE(checkpoint.total_tensor_bytes(), std::uint64_t{24});
        QVERIFY(checkpoint.warnings().empty());
        QVERIFY(std::memcmp(checkpoint.view("c").data, two.data(), 12) == 0);
        QCOMPARE(checkpoint.file_of("c").path().filename().string(), std::string("model-00002-of-00002.safetensors"));
    }

    void brokenIndexes_data() {
        QTest::addColumn<std::string>("weightMap");
        QTest::addColumn<std::string>("expected");
        QTest::newRow("escapes the folder") << std::string(R"({"a": "../outside.safetensors"})") << std::string("is not a plain file name");
        QTest::newRow("absolute path") << std::string(R"({"a": "/etc/passwd"})") << std::string("is not a plain file name");
        QTest::newRow("missing shard") << std::string(R"({"a": "model-00009.safetensors"})") << std::string("is missing");
        QTest::newRow("listed but absent") << std::string(R"({"a": "shard.safetensors", "zz": "shard.safetensors"})")
                                           << std::string("listed in model.safetensors.index.json for this shard but not in it");
        QTest::newRow("not listed") << std::string(R"({"b": "shard.safetensors"})")
                                    << std::string("in the shard but not listed in model.safetensors.index.json");
        QTest::newRow("empty map") << std::string(R"({})") << std::string("lists no tensors");
        QTest::newRow("shard not a string") << std::string(R"({"a": 3})") << std::string("shard name is not a string");
    }
    void brokenIndexes() {
        QFETCH(std::string, weightMap);
        QFETCH(std::string, expected);
        const auto folder = path("broken-index") / QTest::currentDataTag();
        std::filesystem::create_directories(folder);
        const auto bytes = pattern(4, 1);
        write_safetensors(folder / "shard.safetensors", {{"a", DType::u8, {2}, std::span(bytes).first(2)},
                                                         {"b", DType::u8, {2}, std::span(bytes).last(2)}});
        write_file(folder / "model.safetensors.index.json", R"({"weight_map": )" + weightMap + "}");
        const auto error = expect_error([&] { (void)Checkpoint::open(folder); });
        QVERIFY2(std::string(error.what()).find(expected) != std::string::npos, error.what());
    }

    void indexTotalSizeMismatchIsAWarning() {
        const auto folder = path("total-size");
        std::filesystem::create_directories(folder);
        const auto bytes = pattern(4, 1);
        write_safetensors(folder / "s.safetensors", {{"a", DType::f32, {1}, bytes}});
        write_json(folder / "model.safetensors.index.json", {{"metadata", {{"total_size", 999}}}, {"weight_map", {{"a", "s.safetensors"}}}});
        const auto checkpoint = Checkpoint::open(folder);
        QCOMPARE(checkpoint.warnings().size(), std::size_t{1});
        QVERIFY(checkpoint.warnings().front().find("999") != std::string::npos);
    }

    void folderWithoutWeights() {
        const auto folder = path("no-weights");
        std::filesystem::create_directories(folder);
        write_file(folder / "pytorch_model.bin", "not loaded, ever");
        const auto error = expect_error([&] { (void)Checkpoint::open(folder); });
        QCOMPARE(error.kind(), ErrorKind::io);
        QVERIFY(std::string(error.what()).find("never loaded") != std::string::npos);
    }

    // Each broken file gives its own message, names the file (and the tensor when there is one), and never crashes.
    void brokenFiles_data() {
        QTest::addColumn<std::string>("bytes");
        QTest::addColumn<std::string>("expected");
        QTest::addColumn<std::string>("tensor");
        const std::string ok = R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";
        const std::string data24(24, '\x01');
        QTest::newRow("empty file") << std::string() << std::string("0 bytes, too short for the 8-byte header length") << std::string();
        QTest::newRow("truncated length") << std::string("\x10\x00\x00", 3) << std::string("3 bytes, too short") << std::string();
        QTest::newRow("header length past the end") << safetensors_bytes(ok, data24, 5000)
                                                    << std::string("header length 5000 runs past the end of the file") << std::string();
        QTest::newRow("absurd header length") << safetensors_bytes(ok, data24, 1ull << 62)
                                              << std::string("exceeds the 100000000-byte limit") << std::string();
        QTest::newRow("bad JSON") << safetensors_bytes(R"({"w":{"dtype":"F32",)", data24) << std::string("header is not valid JSON")
                                  << std::string();
        QTest::newRow("binary garbage") << safetensors_bytes(std::string("\xff\xfe\x00\x01garbage", 11), data24)
                                        << std::string("header is not valid JSON") << std::string();
        QTest::newRow("header not an object") << safetensors_bytes("[1, 2, 3]", data24) << std::string("JSON but not an object")
                                              << std::string();
        QTest::newRow("unknown dtype") << safetensors_bytes(R"({"w":{"dtype":"Q4_K","shape":[2,3],"data_offsets":[0,24]}})", data24)
                                       << std::string("unknown dtype 'Q4_K' (known: BOOL") << std::string("w");
        QTest::newRow("wrong byte count") << safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", data24.substr(0, 20))
                                          << std::string("shape [2, 3] x F32 (4 bytes) needs 24 bytes, but data_offsets [0, 20) hold 20")
                                          << std::string("w");
        QTest::newRow("range outside the data") << safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[100,124]}})", data24)
                                                << std::string("data_offsets [100, 124) end past the data area of 24 bytes")
                                                << std::string("w");
        QTest::newRow("truncated data") << safetensors_bytes(ok, data24.substr(0, 10))
                                        << std::string("end past the data area of 10 bytes (file truncated?)") << std::string("w");
        QTest::newRow("overlapping ranges")
            << safetensors_bytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", std::string(16, '\0'))
            << std::string("bytes [8, 16) overlap tensor 'a' [0, 16)") << std::string("b");
        QTest::newRow("gap between tensors")
            << safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", std::string(12, '\0'))
            << std::string("4 bytes belong to no tensor") << std::string("b");
        QTest::newRow("bytes after the last tensor") << safetensors_bytes(ok, data24 + "tail")
                                                     << std::string("4 bytes after the last tensor are not described") << std::string();
        QTest::newRow("negative dimension") << safetensors_bytes(R"({"w":{"dtype":"F32","shape":[-2,3],"data_offsets":[0,24]}})", data24)
                                            << std::string("not a non-negative integer") << std::string("w");
        QTest::newRow("offsets reversed") << safetensors_bytes(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[24,0]}})", data24)
                                          << std::string("ends before it begins") << std::string("w");
        QTest::newRow("duplicate name")
            << safetensors_bytes(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", "ab")
            << std::string("named twice in the header") << std::string("w");
        QTest::newRow("missing dtype") << safetensors_bytes(R"({"w":{"shape":[2,3],"data_offsets":[0,24]}})", data24)
                                       << std::string("header entry has no 'dtype'") << std::string("w");
        QTest::newRow("element count overflow")
            << safetensors_bytes(R"({"w":{"dtype":"F64","shape":[4294967296,4294967296,16],"data_offsets":[0,24]}})", data24)
            << std::string("more elements than any file can hold") << std::string("w");
        QTest::newRow("metadata not strings") << safetensors_bytes(R"({"__metadata__":{"n":1}})", "")
                                              << std::string("'__metadata__' value of 'n' is not a string") << std::string();
        QTest::newRow("offsets not a pair") << safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0]}})", data24)
                                            << std::string("is not a pair of non-negative integers") << std::string("w");
    }
    void brokenFiles() {
        QFETCH(std::string, bytes);
        QFETCH(std::string, expected);
        QFETCH(std::string, tensor);
        const auto file = path("broken.safetensors");
        write_file(file, bytes);
        const auto error = expect_error([&] { (void)SafetensorsFile::open(file); });
        QCOMPARE(error.kind(), ErrorKind::format);
        QCOMPARE(error.file(), file.string());
        QCOMPARE(error.tensor(), tensor);
        QVERIFY2(std::string(error.what()).find(expected) != std::string::npos, error.what());
        QVERIFY2(std::string(error.what()).find(file.string()) == 0, "the message starts with the file");
    }

    void notAFile() {
        const auto missing = expect_error([&] { (void)SafetensorsFile::open(path("nope.safetensors")); });
        QCOMPARE(missing.kind(), ErrorKind::io);
        QVERIFY(std::string(missing.what()).find("cannot open") != std::string::npos);
        std::filesystem::create_directories(path("a-folder.safetensors"));
        const auto folder = expect_error([&] { (void)SafetensorsFile::open(path("a-folder.safetensors")); });
        QVERIFY(std::string(folder.what()).find("not a regular file") != std::string::npos);
    }

    void headerPaddedWithSpaces() {
        const std::string header = std::string(R"({"w":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}})") + "     ";
        write_file(path("padded.safetensors"), safetensors_bytes(header, "xyz"));
        const auto file = SafetensorsFile::open(path("padded.safetensors"));
        QCOMPARE(std::string(reinterpret_cast<const char*>(file.view("w").data), 3), std::string("xyz"));
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestSafetensors)

}  // namespace test_safetensors
#include "test_safetensors.moc"

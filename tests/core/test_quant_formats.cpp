// GGUF's weight formats against the gguf package (tests/reference/make_quant_fixture.py): quantizing fixed values
// gives its bytes exactly, and dequantizing gives its floats exactly, for F16, BF16, Q8_0, Q4_0, and (reading only)
// Q4_K and Q6_K. Plus the sizes, names and GGML ids, and the errors for rows that are not whole blocks.
#include <QtTest>
#include "test_main.h"

#include <cmath>
#include <cstring>
#include <fstream>

#include "deepstack/error.h"
#include "quant/formats.h"
#include "quant/half.h"
#include "test_files.h"

namespace test_quant_formats {

using namespace deepstack;
using namespace deepstack::quant;

namespace {
const std::filesystem::path kDir = testing::data_dir() / "fixtures" / "quant";

std::vector<std::uint8_t> read_bytes(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error("missing fixture " + file.string());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
std::vector<float> read_floats(const std::filesystem::path& file) {
    const auto bytes = read_bytes(file);
    std::vector<float> out(bytes.size() / 4);
    std::memcpy(out.data(), bytes.data(), out.size() * 4);
    return out;
}
// The fixture's values as each format was given them: the block formats skip the float16 edge block (96..127).
std::vector<float> inputs(const std::string& format) {
    auto v = read_floats(kDir / "values.f32");
    if (format == "q8_0" || format == "q4_0") v.erase(v.begin() + 96, v.begin() + 128);
    return v;
}
// Bitwise equality (so that -0 and NaN count), with the first difference named.
void require_same_floats(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
    QCOMPARE(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i)
        if (std::memcmp(&got[i], &want[i], 4) != 0)
            QFAIL((what + ": value " + std::to_string(i) + " is " + std::to_string(got[i]) + ", the reference " + std::to_string(want[i])).c_str());
}
}  // namespace

class TestQuantFormats : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void quantizeEqualsTheReference_data() {
        QTest::addColumn<QString>("format");
        for (const char* f : {"f16", "bf16", "q8_0", "q4_0"}) QTest::newRow(f) << QString(f);
    }
    void quantizeEqualsTheReference() {
        QFETCH(QString, format);
        const auto name = format.toStdString();
        const auto f = *format_named(name);
        const auto got = quantize(f, inputs(name));
        const auto want = read_bytes(kDir / (name + ".bin"));
        QCOMPARE(got.size(), want.size());
        for (std::size_t i = 0; i < got.size(); ++i)
            if (got[i] != want[i])
                QFAIL((name + ": byte " + std::to_string(i) + " (block " + std::to_string(i / static_cast<std::size_t>(traits(f).block_bytes)) +
                       ") is " + std::to_string(got[i]) + ", the reference " + std::to_string(want[i])).c_str());
    }

    void dequantizeEqualsTheReference_data() {
        QTest::addColumn<QString>("format");
        for (const char* f : {"f16", "bf16", "q8_0", "q4_0", "q4_k", "q6_k"}) QTest::newRow(f) << QString(f);
    }
    void dequantizeEqualsTheReference() {
        QFETCH(QString, format);
        const auto name = format.toStdString();
        const auto want = read_floats(kDir / (name + ".dequantized.f32"));
        const auto got = dequantize(*format_named(name), read_bytes(kDir / (name + ".bin")), static_cast<std::int64_t>(want.size()));
        require_same_floats(got, want, name);
    }

    // Q4_K has no quantizer in the gguf package to compare with: the rows it makes must read back (through the
    // dequantizer that equals the package's) within 4-bit error, keep zero blocks zero, and fit better than the
    // plain range (what the least-squares search is for).
    void q4kQuantizationReadsBackClose() {
        const auto all = read_floats(kDir / "values.f32");
        const std::vector<float> values(all.begin() + 256, all.end());  // the normal rows (scales 1e-3 .. 30)
        const auto back = dequantize(Format::q4_k, quantize(Format::q4_k, values), static_cast<std::int64_t>(values.size()));
        for (std::size_t row = 0; row < values.size() / 256; ++row) {
            double error = 0, power = 0;
            for (std::size_t i = row * 256; i < row * 256 + 256; ++i) {
                error += (back[i] - values[i]) * static_cast<double>(back[i] - values[i]);
                power += values[i] * static_cast<double>(values[i]);
            }
            const auto relative = std::sqrt(error / power);
            QVERIFY2(relative < 0.12, qPrintable(QString("row %1: relative RMS error %2").arg(row).arg(relative)));
        }
        const std::vector<float> zeros(256, 0.0f);
        for (const auto v : dequantize(Format::q4_k, quantize(Format::q4_k, zeros), 256)) QCOMPARE(v, 0.0f);
        // A block whose values sit on a 4-bit grid (with an offset) comes back almost exactly.
        std::vector<float> grid(256);
        for (std::size_t i = 0; i < 256; ++i) grid[i] = 0.25f * static_cast<float>(i % 16) - 1.0f;
        const auto grid_back = dequantize(Format::q4_k, quantize(Format::q4_k, grid), 256);
        for (std::size_t i = 0; i < 256; ++i) QVERIFY2(std::abs(grid_back[i] - grid[i]) < 0.01f, qPrintable(QString::number(i)));
    }

    void halfConversionsRoundTrip() {
        // Every finite half survives half -> float -> half.
        for (std::uint32_t h = 0; h < 0x10000; ++h) {
            if ((h & 0x7c00u) == 0x7c00u) continue;
            const auto back = float_to_half(half_to_float(static_cast<std::uint16_t>(h)));
            if (back != h) QFAIL(("half " + std::to_string(h) + " came back as " + std::to_string(back)).c_str());
        }
        QCOMPARE(float_to_half(65520.0f), std::uint16_t{0x7c00});  // the tie past 65504 goes to inf
        QCOMPARE(float_to_half(65519.0f), std::uint16_t{0x7bff});
        QCOMPARE(float_to_bf16(1.0f), std::uint16_t{0x3f80});
        QCOMPARE(bf16_to_float(0xbf80), -1.0f);
    }

    void sizesNamesAndIds() {
        QCOMPARE(traits(Format::q8_0).block_bytes, std::int64_t{34});
        QCOMPARE(traits(Format::q4_0).block_bytes, std::int64_t{18});
        QCOMPARE(traits(Format::q4_k).block_bytes, std::int64_t{144});
        QCOMPARE(traits(Format::q6_k).block_bytes, std::int64_t{210});
        QCOMPARE(row_bytes(Format::q8_0, 2048), std::size_t{2048 / 32 * 34});
        QCOMPARE(row_bytes(Format::bf16, 7), std::size_t{14});
        QVERIFY(format_from_ggml_type(12) == Format::q4_k);
        QVERIFY(format_from_ggml_type(30) == Format::bf16);
        QVERIFY(!format_from_ggml_type(3));  // Q4_1: not read by this version
        QVERIFY(format_named("q6_k") == Format::q6_k);
        QVERIFY(!format_named("q5_k"));
    }

    void partialBlocksAreRefused() {
        QVERIFY_THROWS_EXCEPTION(Error, (void)row_bytes(Format::q4_k, 100));
        const std::vector<float> forty(40, 1.0f);
        QVERIFY_THROWS_EXCEPTION(Error, (void)quantize(Format::q8_0, forty));
        QVERIFY_THROWS_EXCEPTION(Error, (void)quantize(Format::q6_k, std::vector<float>(256, 1.0f)));  // reading only
        const std::vector<std::uint8_t> short_block(33);
        QVERIFY_THROWS_EXCEPTION(Error, (void)dequantize(Format::q8_0, short_block, 32));
    }
};

DEEPSTACK_TEST_APPLESS_MAIN(TestQuantFormats)

}  // namespace test_quant_formats
#include "test_quant_formats.moc"

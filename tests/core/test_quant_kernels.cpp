// The quantized matrix-vector kernels against the arithmetic they stand for: each format's rows dequantized (as
// the gguf package reads them) times the activations as quantized, in double precision. Both the portable kernels
// and the ones this CPU selects; several vectors, a row range and a strided output.
#include <QtTest>
#include "test_main.h"

#include <cmath>
#include <random>

#include "deepstack/error.h"
#include "quant/formats.h"
#include "quant/half.h"
#include "quant/kernels.h"

namespace test_quant_kernels {

using namespace deepstack;
using namespace deepstack::quant;

namespace {
constexpr std::int64_t kRows = 24, kColumns = 768, kVectors = 3;

std::vector<float> normal(std::size_t n, float scale, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

// Weight rows of `format`: quantized from normal values where we quantize, random blocks (sane float16 scales)
// for the formats we only read.
std::vector<std::uint8_t> weight_rows(Format format) {
    if (format == Format::q8_0 || format == Format::q4_0) return quantize(format, normal(kRows * kColumns, 0.05f, 11));
    std::mt19937 rng(12);
    std::vector<std::uint8_t> bytes(row_bytes(format, kColumns) * kRows);
    for (auto& b : bytes) b = static_cast<std::uint8_t>(rng() & 0xff);
    const auto block = static_cast<std::size_t>(traits(format).block_bytes);
    std::normal_distribution<float> scale(0.0f, 0.002f);
    for (std::size_t at = 0; at < bytes.size(); at += block) {
        const std::vector<std::size_t> scale_offsets = format == Format::q4_k ? std::vector<std::size_t>{0, 2} : std::vector<std::size_t>{208};
        for (const auto offset : scale_offsets) {
            const auto h = float_to_half(scale(rng));
            bytes[at + offset] = static_cast<std::uint8_t>(h & 0xff);
            bytes[at + offset + 1] = static_cast<std::uint8_t>(h >> 8);
        }
    }
    return bytes;
}

// y[l][r] in double from dequantized rows and the dequantized activation blocks.
std::vector<double> reference(Format format, const std::vector<std::uint8_t>& rows, const std::vector<ActivationBlock>& x) {
    const auto weights = dequantize(format, rows, kRows * kColumns);
    std::vector<double> y(kVectors * kRows);
    for (std::int64_t l = 0; l < kVectors; ++l)
        for (std::int64_t r = 0; r < kRows; ++r) {
            double s = 0;
            for (std::int64_t c = 0; c < kColumns; ++c) {
                const auto& b = x[static_cast<std::size_t>(l * kColumns / 32 + c / 32)];
                s += static_cast<double>(weights[static_cast<std::size_t>(r * kColumns + c)]) * b.d * b.q[c % 32];
            }
            y[static_cast<std::size_t>(l * kRows + r)] = s;
        }
    return y;
}
}  // namespace

class TestQuantKernels : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void cleanup() { use_portable_kernels(false); }

    void activationBlocks() {
        const auto x = normal(64, 1.0f, 3);
        std::vector<ActivationBlock> blocks(2);
        quantize_activations(x, blocks);
        for (std::size_t b = 0; b < 2; ++b) {
            std::int32_t sums[2] = {0, 0};
            int extreme = 0;
            for (int i = 0; i < 32; ++i) {
                const float v = x[b * 32 + static_cast<std::size_t>(i)];
                QVERIFY(std::abs(blocks[b].d * blocks[b].q[i] - v) <= 0.5001f * blocks[b].d);
                sums[i / 16] += blocks[b].q[i];
                extreme = std::max(extreme, std::abs(static_cast<int>(blocks[b].q[i])));
            }
            QCOMPARE(extreme, 127);
            QCOMPARE(blocks[b].half_sums[0], sums[0]);
            QCOMPARE(blocks[b].half_sums[1], sums[1]);
        }
        std::vector<ActivationBlock> wrong(3);
        QVERIFY_THROWS_EXCEPTION(Error, quantize_activations(x, wrong));
    }

    void matvecEqualsDequantizedArithmetic_data() {
        QTest::addColumn<QString>("format");
        QTest::addColumn<bool>("portable");
        for (const char* f : {"q8_0", "q4_0", "q4_k", "q6_k"}) {
            QTest::newRow((std::string(f) + " portable").c_str()) << QString(f) << true;
            QTest::newRow((std::string(f) + " " + matvec_kernel_name()).c_str()) << QString(f) << false;
        }
    }
    void matvecEqualsDequantizedArithmetic() {
        QFETCH(QString, format);
        QFETCH(bool, portable);
        use_portable_kernels(portable);
        const auto f = *format_named(format.toStdString());
        const auto rows = weight_rows(f);
        std::vector<ActivationBlock> x(static_cast<std::size_t>(kVectors * kColumns / 32));
        quantize_activations(normal(kVectors * kColumns, 1.0f, 5), x, activation_group(f));
        const auto want = reference(f, rows, x);

        const std::int64_t stride = kRows + 5;  // a strided output, rows 4 .. kRows - 1 only
        std::vector<float> y(static_cast<std::size_t>(kVectors * stride), -1.0f);
        matvec(f, rows.data(), kColumns, 4, kRows, x.data(), kVectors, y.data(), stride);
        double scale = 0;
        for (const auto v : want) scale = std::max(scale, std::abs(v));
        QVERIFY(scale > 0);
        for (std::int64_t l = 0; l < kVectors; ++l)
            for (std::int64_t r = 0; r < stride; ++r) {
                const auto got = y[static_cast<std::size_t>(l * stride + r)];
                if (r < 4 || r >= kRows) {
                    QCOMPARE(got, -1.0f);  // outside the range: untouched
                    continue;
                }
                const auto expected = want[static_cast<std::size_t>(l * kRows + r)];
                if (std::abs(got - expected) > 2e-5 * scale)
                    QFAIL(qPrintable(QString("%1 vector %2 row %3: %4, expected %5").arg(format).arg(l).arg(r).arg(got).arg(expected)));
            }
    }

    // The K-quant kernels sum a super-block in integers under one activation scale: activations quantized in
    // groups of 32 are refused, not misread.
    void kQuantsNeedActivationsInGroupsOf256() {
        const auto rows = weight_rows(Format::q4_k);
        std::vector<ActivationBlock> x(static_cast<std::size_t>(kColumns / 32));
        auto values = normal(kColumns, 1.0f, 9);
        values[40] = 30.0f;  // a different scale in the first group's second block
        quantize_activations(values, x, 32);
        std::vector<float> y(kRows);
        QVERIFY_THROWS_EXCEPTION(Error, matvec(Format::q4_k, rows.data(), kColumns, 0, kRows, x.data(), 1, y.data(), kRows));
        quantize_activations(values, x, 256);
        matvec(Format::q4_k, rows.data(), kColumns, 0, kRows, x.data(), 1, y.data(), kRows);
        QVERIFY_THROWS_EXCEPTION(Error, quantize_activations(std::vector<float>(96), x, 256));
    }

    void quantizedActivationsStayCloseToFloat() {
        // Q8_0 weights against float activations: the 8-bit activations cost well under a percent.
        const auto values = normal(kRows * kColumns, 0.05f, 21);
        const auto rows = quantize(Format::q8_0, values);
        const auto weights = dequantize(Format::q8_0, rows, kRows * kColumns);
        const auto xf = normal(kColumns, 1.0f, 22);
        std::vector<ActivationBlock> x(kColumns / 32);
        quantize_activations(xf, x);
        std::vector<float> y(kRows);
        matvec(Format::q8_0, rows.data(), kColumns, 0, kRows, x.data(), 1, y.data(), kRows);
        double error = 0, norm = 0;
        for (std::int64_t r = 0; r < kRows; ++r) {
            double exact = 0;
            for (std::int64_t c = 0; c < kColumns; ++c) exact += static_cast<double>(weights[static_cast<std::size_t>(r * kColumns + c)]) * xf[static_cast<std::size_t>(c)];
            error += (y[static_cast<std::size_t>(r)] - exact) * (y[static_cast<std::size_t>(r)] - exact);
            norm += exact * exact;
        }
        QVERIFY2(std::sqrt(error / norm) < 0.01, qPrintable(QString::number(std::sqrt(error / norm))));
    }

    void unsupportedFormatsAreRefused() {
        std::vector<ActivationBlock> x(1);
        std::vector<float> y(1);
        std::vector<std::uint8_t> w(64);
        QVERIFY_THROWS_EXCEPTION(Error, matvec(Format::bf16, w.data(), 32, 0, 1, x.data(), 1, y.data(), 1));
    }
};

DEEPSTACK_TEST_APPLESS_MAIN(TestQuantKernels)

}  // namespace test_quant_kernels
#include "test_quant_kernels.moc"

// nn::Matrix, the quantized matrices on LibTorch: for each format, linear() on a few rows (the integer kernels)
// and on many (dequantized tiles and the BLAS) equals the same product with the rows dequantized, within the
// 8-bit activations' error; leading dimensions, the bias and the embedding rows come through; rows that are not
// whole blocks fall back to Q8_0 or stay dense.
#include <QtTest>
#include "test_main.h"

#include <ATen/Parallel.h>
#include <torch/types.h>

#include "deepstack/error.h"
#include "nn/matrix.h"
#include "nn/weights.h"
#include "quant/formats.h"

namespace test_matrix {

using namespace deepstack;

namespace {
// The quantized matrix's rows as fp32, through the format's own dequantizer.
torch::Tensor dequantized(const nn::Matrix& m) {
    auto out = torch::empty({m.rows(), m.columns()}, torch::kFloat32);
    const auto row_bytes = m.blocks().size(1);
    for (std::int64_t r = 0; r < m.rows(); ++r)
        quant::dequantize_row(m.format(), {m.blocks().data_ptr<std::uint8_t>() + r * row_bytes, static_cast<std::size_t>(row_bytes)},
                              {out.data_ptr<float>() + r * m.columns(), static_cast<std::size_t>(m.columns())});
    return out;
}

double relative_error(const torch::Tensor& got, const torch::Tensor& want) {
    return ((got - want).norm() / want.norm()).item<double>();
}
}  // namespace

class TestMatrix : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() {
        torch::manual_seed(7);
        at::set_num_threads(2);
    }

    void linearEqualsTheDequantizedProduct_data() {
        QTest::addColumn<QString>("format");
        QTest::addColumn<int>("inputs");
        for (const char* f : {"q8_0", "q4_0", "q4_k"})
            for (const int n : {1, 3, 40}) QTest::newRow((std::string(f) + " x" + std::to_string(n)).c_str()) << QString(f) << n;
    }
    void linearEqualsTheDequantizedProduct() {
        QFETCH(QString, format);
        QFETCH(int, inputs);
        c10::InferenceMode guard;
        const auto f = *quant::format_named(format.toStdString());
        const auto dense = torch::randn({300, 512}) * 0.05;  // 300 rows: more than one tile of 256 on the BLAS path
        const auto m = nn::Matrix::quantized(dense, f);
        QVERIFY(m.is_quantized());
        QCOMPARE(m.rows(), std::int64_t{300});
        QCOMPARE(m.columns(), std::int64_t{512});
        QCOMPARE(m.bytes(), static_cast<std::uint64_t>(300 * quant::row_bytes(f, 512)));
        const auto x = torch::randn({1, inputs, 512});  // a leading batch dimension
        const auto bias = torch::randn({300});
        const auto got = nn::linear(x, m, bias);
        QCOMPARE(got.sizes().vec(), (std::vector<std::int64_t>{1, inputs, 300}));
        const auto want = torch::matmul(x, dequantized(m).t()) + bias;
        // Few rows meet 8-bit activations (error ~0.3 %); many rows run in fp32 on the dequantized tiles.
        const double tolerance = inputs <= 8 ? 0.01 : 1e-5;
        QVERIFY2(relative_error(got, want) < tolerance, qPrintable(QString::number(relative_error(got, want))));
        // And the quantization itself stays within its format's error of the dense product.
        const double format_error = f == quant::Format::q8_0 ? 0.01 : 0.15;
        QVERIFY2(relative_error(got, torch::matmul(x, dense.t()) + bias) < format_error,
                 qPrintable(QString::number(relative_error(got, torch::matmul(x, dense.t()) + bias))));
    }

    // A bf16 model keeps its activations in bf16: both paths return bf16, close to the fp32 product.
    void bfloat16Inputs() {
        c10::InferenceMode guard;
        const auto dense = torch::randn({64, 256}) * 0.05;
        const auto m = nn::Matrix::quantized(dense, quant::Format::q8_0);
        for (const int n : {2, 20}) {
            const auto x = torch::randn({n, 256});
            const auto got = nn::linear(x.to(torch::kBFloat16), m);
            QCOMPARE(got.scalar_type(), torch::kBFloat16);
            const auto want = torch::matmul(x, dequantized(m).t());
            QVERIFY2(relative_error(got.to(torch::kFloat32), want) < 0.02, qPrintable(QString::number(relative_error(got.to(torch::kFloat32), want))));
        }
    }

    void embeddingRows() {
        c10::InferenceMode guard;
        const auto dense = torch::randn({50, 256});
        const auto ids = torch::tensor(std::vector<std::int64_t>{3, 0, 49, 3});
        for (const auto f : {quant::Format::q8_0, quant::Format::q4_k}) {
            const auto m = nn::Matrix::quantized(dense, f);
            QVERIFY(torch::equal(nn::embedding(m, ids, torch::kFloat32), dequantized(m).index_select(0, ids)));
        }
        QVERIFY(torch::equal(nn::embedding(nn::Matrix(dense), ids, torch::kFloat32), dense.index_select(0, ids)));
        QCOMPARE(nn::embedding(nn::Matrix::quantized(dense, quant::Format::q8_0), ids, torch::kBFloat16).scalar_type(), torch::kBFloat16);
        QVERIFY_THROWS_EXCEPTION(Error, (void)nn::embedding(nn::Matrix::quantized(dense, quant::Format::q8_0), torch::tensor(std::vector<std::int64_t>{50}), torch::kFloat32));
    }

    void denseMatricesPassThrough() {
        c10::InferenceMode guard;
        const auto dense = torch::randn({8, 64});
        const nn::Matrix m(dense);
        QVERIFY(!m.is_quantized());
        const auto x = torch::randn({2, 64});
        QVERIFY(torch::allclose(nn::linear(x, m), torch::matmul(x, dense.t()), 1e-5, 1e-6));
    }

    void rowsThatAreNotWholeBlocksFallBack() {
        QVERIFY(nn::format_for_columns(quant::Format::q4_k, 512) == quant::Format::q4_k);
        QVERIFY(nn::format_for_columns(quant::Format::q4_k, 96) == quant::Format::q8_0);
        QVERIFY(nn::format_for_columns(quant::Format::q4_0, 96) == quant::Format::q4_0);
        QVERIFY(!nn::format_for_columns(quant::Format::q8_0, 688));  // the demo model's MLP: stays dense
        QVERIFY_THROWS_EXCEPTION(Error, (void)nn::Matrix::quantized(torch::randn({4, 100}), quant::Format::q8_0));
        QVERIFY_THROWS_EXCEPTION(Error, (void)nn::linear(torch::randn({1, 32}), nn::Matrix::quantized(torch::randn({4, 64}), quant::Format::q8_0)));
    }
};

DEEPSTACK_TEST_APPLESS_MAIN(TestMatrix)

}  // namespace test_matrix
#include "test_matrix.moc"

// Qwen3-VL image preprocessing against transformers' Qwen2VLImageProcessorFast
// (tests/reference/make_qwen3_vl_image_fixture.py): smart_resize, the resized pixels, the grid, the patches.
#include <QtTest>
#include "test_main.h"

#include <torch/types.h>

#include "deepstack/error.h"
#include "deepstack/image.h"
#include "deepstack/safetensors.h"
#include "models/qwen3_vl/processor.h"
#include "tensor/torch_bridge.h"
#include "test_files.h"

namespace test_qwen3_vl_processor {

using namespace deepstack;

namespace {
const auto kImages = testing::data_dir() / "images";
const auto kFixture = testing::data_dir() / "fixtures" / "qwen3-vl-images";

torch::Tensor chw(const RgbImage& image) {
    return torch::from_blob(const_cast<std::uint8_t*>(image.pixels.data()), {image.height, image.width, 3}, torch::kUInt8)
        .permute({2, 0, 1})
        .clone();
}

// [N, 3 * 2 * 16 * 16] normalised patches back to the uint8 picture [3, H, W] (first frame; mean = std = 0.5).
torch::Tensor unpatchify(const torch::Tensor& pixel_values, const qwen3_vl::Grid& grid) {
    const auto gh = grid[1], gw = grid[2];
    const auto frame = pixel_values.reshape({gh / 2, gw / 2, 2, 2, 3, 2, 16, 16}).select(5, 0);  // drop the copy
    const auto picture = frame.permute({4, 0, 2, 5, 1, 3, 6}).reshape({3, gh * 16, gw * 16});
    return ((picture * 0.5 + 0.5) * 255.0).round().to(torch::kUInt8);
}
}  // namespace

class TestQwen3VLProcessor : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void smartResize_data() {
        QTest::addColumn<int>("height");
        QTest::addColumn<int>("width");
        QTest::addColumn<int>("expectedHeight");
        QTest::addColumn<int>("expectedWidth");
        // Worked examples of the spec (section 1.2), computed with transformers' function.
        QTest::newRow("640x480") << 480 << 640 << 480 << 640;
        QTest::newRow("1920x1080") << 1080 << 1920 << 1088 << 1920;
        QTest::newRow("1280x720") << 720 << 1280 << 704 << 1280;
        QTest::newRow("100x100 scaled up") << 100 << 100 << 256 << 256;
        QTest::newRow("4000x3000") << 3000 << 4000 << 3008 << 4000;
        QTest::newRow("half rounds to even") << 128 << 1104 << 128 << 1088;
    }
    void smartResize() {
        QFETCH(int, height);
        QFETCH(int, width);
        QFETCH(int, expectedHeight);
        QFETCH(int, expectedWidth);
        const auto [h, w] = qwen3_vl::smart_resize(height, width, 32, {});
        QCOMPARE(h, std::int64_t{expectedHeight});
        QCOMPARE(w, std::int64_t{expectedWidth});
    }

    void extremeAspectIsRefused() {
        try {
            (void)qwen3_vl::smart_resize(10, 2010, 32, {});
            QFAIL("201:1 was accepted");
        } catch (const Error& e) {
            QVERIFY(std::string(e.what()).find("beyond 200:1") != std::string::npos);
        }
    }

    void matchesTheReference_data() {
        QTest::addColumn<std::string>("name");
        QTest::addColumn<int>("minPixels");
        QTest::addColumn<int>("maxPixels");
        QTest::newRow("wide-banker") << std::string("wide-banker") << 65536 << 16777216;
        QTest::newRow("small-upscaled") << std::string("small-upscaled") << 65536 << 16777216;
        QTest::newRow("tiny-budget") << std::string("tiny-budget") << 4096 << 65536;
        QTest::newRow("big-budget") << std::string("big-budget") << 16384 << 65536;
    }
    void matchesTheReference() {
        QFETCH(std::string, name);
        QFETCH(int, minPixels);
        QFETCH(int, maxPixels);
        const auto reference = SafetensorsFile::open(kFixture / "reference.safetensors");
        const auto image = load_image(kImages / (name + ".png"));
        ImagePreprocessorConfig pre;
        pre.present = true;
        pre.patch_size = 16;
        pre.merge_size = 2;
        pre.temporal_patch_size = 2;
        pre.image_mean = {0.5, 0.5, 0.5};
        pre.image_std = {0.5, 0.5, 0.5};
        const auto processed = qwen3_vl::preprocess(image, pre, {minPixels, maxPixels});
        const auto grid = tensor::to_torch(reference.view(name + ".grid_thw"));
        QCOMPARE(processed.grid[0], grid[0].item<std::int64_t>());
        QCOMPARE(processed.grid[1], grid[1].item<std::int64_t>());
        QCOMPARE(processed.grid[2], grid[2].item<std::int64_t>());

        // The pixels the patches were cut from, recovered by undoing the permutation and the normalisation, equal
        // transformers' CPU resize (torchvision's uint8 fixed-point path) exactly.
        const auto recovered = unpatchify(processed.pixel_values, processed.grid);
        const auto native = chw(load_image(kFixture / (name + ".resized-native.png")));
        QCOMPARE(recovered.sizes().vec(), native.sizes().vec());
        const auto differ = (recovered.to(torch::kInt) - native.to(torch::kInt)).abs();
        QVERIFY2(differ.max().item<int>() == 0, qPrintable(QString("max difference %1 levels").arg(differ.max().item<int>())));
        // Its float path (what a GPU computes) is another picture near hard edges: logged, so that the gap is known.
        const auto float_path = chw(load_image(kFixture / (name + ".resized-float.png")));
        qInfo("%s: torchvision's float path differs by up to %d levels", name.c_str(),
              (recovered.to(torch::kInt) - float_path.to(torch::kInt)).abs().max().item<int>());

        // The patches themselves, value for value: every 32nd of each case (all of them would not fit in the
        // fixture), and all of the small one.
        const auto sampled = tensor::to_torch(reference.view(name + ".pixel_values_every_32nd"));
        const auto ours = processed.pixel_values.slice(0, 0, processed.pixel_values.size(0), 32);
        QCOMPARE(ours.sizes().vec(), sampled.sizes().vec());
        QVERIFY2(torch::equal(ours, sampled), qPrintable(QString("largest difference %1").arg((ours - sampled).abs().max().item<double>())));
        if (name == "tiny-budget") {
            const auto expected = tensor::to_torch(reference.view(name + ".pixel_values"));
            QCOMPARE(processed.pixel_values.sizes().vec(), expected.sizes().vec());
            QVERIFY(torch::equal(processed.pixel_values, expected));
        }
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestQwen3VLProcessor)

}  // namespace test_qwen3_vl_processor
#include "test_qwen3_vl_processor.moc"

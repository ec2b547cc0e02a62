// Qwen3-VL image preprocessing against transformers' Qwen2VLImageProcessorFast
// (tests/reference/make_qwen3_vl_image_fixture.py): smart_resize, the resized pixels, the grid, the patches.
#include <QtTest>

#include <torch/torch.h>

#include "deepstack/error.h"
#include "deepstack/image.h"
#include "deepstack/safetensors.h"
#include "models/qwen3_vl/processor.h"
#include "tensor/torch_bridge.h"
#include "test_files.h"

using namespace deepstack;

Q_DECLARE_METATYPE(std::string)

namespace {
const auto kImages = testing::data_dir() / "images";
const auto kFixture = testing::data_dir() / "fixtures" / "qwen3-vl-images";

torch::Tensor chw(const RgbImage& image) {
    return torch::from_blob(const_cast<std::uint8_t*>(image.pixels.data()), {image.height, image.width, 3}, torch::kUInt8)
        .permute({2, 0, 1})
        .clone();
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

        // The resize equals torchvision's float path exactly.
        const auto ours = qwen3_vl::resize_bicubic_antialiased(chw(image), processed.grid[1] * 16, processed.grid[2] * 16);
        QVERIFY(torch::equal(ours, chw(load_image(kFixture / (name + ".resized-float.png")))));
        // transformers on an AVX2 CPU resizes uint8 natively (two fixed-point passes, clamped in between); near hard
        // edges that differs from the float path. Logged, not hidden: see the model notes.
        const auto native = chw(load_image(kFixture / (name + ".resized-native.png")));
        const auto differ = (ours.to(torch::kInt) - native.to(torch::kInt)).abs();
        qInfo("%s: vs the native uint8 path: max %d levels, %.2f%% of values differ", name.c_str(), differ.max().item<int>(),
              100.0 * differ.gt(0).sum().item<double>() / static_cast<double>(differ.numel()));

        if (reference.contains(name + ".pixel_values")) {
            const auto expected = tensor::to_torch(reference.view(name + ".pixel_values"));
            QCOMPARE(processed.pixel_values.sizes().vec(), expected.sizes().vec());
            QVERIFY(torch::allclose(processed.pixel_values, expected, 0, 1e-6));
        }
    }
};

QTEST_GUILESS_MAIN(TestQwen3VLProcessor)
#include "test_qwen3_vl_processor.moc"

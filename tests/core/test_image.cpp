// Loading pictures: upright (EXIF), RGB from grey, alpha on white, 16-bit to 8-bit; corrupt files give a clear error.
#include <QTemporaryDir>
#include <QtTest>
#include "test_main.h"

#include <array>
#include <cstring>

#include <fstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "deepstack/error.h"
#include "deepstack/image.h"
#include "deepstack/resample.h"
#include "test_files.h"

namespace test_image {

using namespace deepstack;

namespace {
std::string encode(const cv::Mat& image, const std::string& extension) {
    std::vector<unsigned char> bytes;
    cv::imencode(extension, image, bytes);
    return {bytes.begin(), bytes.end()};
}
std::array<int, 3> pixel(const RgbImage& image, int x, int y) {
    const auto* p = &image.pixels[(static_cast<std::size_t>(y) * image.width + x) * 3];
    return {p[0], p[1], p[2]};
}
}  // namespace

class TestImage : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::filesystem::path path(const std::string& name) const { return std::filesystem::path(dir_.path().toStdString()) / name; }

private Q_SLOTS:
    // Found by fuzz_image: bytes OpenCV handed to Debian's DICOM decoder, which aborted the process. Only the five
    // formats this loader reads reach the decoders now.
    void otherFormatsAreRefusedBeforeAnyDecoder() {
        // The second starts like a WebP and carries DICOM's mark at byte 128 (OpenCV tries each decoder in turn).
        for (const char* name : {"regression-dicom-header.bin", "regression-webp-then-dicom.bin"}) {
            const auto bytes = testing::read_file(testing::data_dir().parent_path() / "fuzz" / "corpus" / "image" / name);
            try {
                (void)decode_image(std::span(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()), "scan.png");
                QFAIL(name);
            } catch (const Error& e) {
                QCOMPARE(e.kind(), ErrorKind::format);
                QVERIFY2(std::string(e.what()).find("scan.png: not a picture this app reads") != std::string::npos, e.what());
            }
        }
    }

    // A header that declares more pixels than anyone reads is refused before decoding, in our words, with the size.
    void hugeDeclaredSizesAreRefusedBeforeDecoding() {
        std::vector<std::byte> png(33);
        const unsigned char header[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                        0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0, 8, 2, 0, 0, 0};  // 100000 x 100000
        std::memcpy(png.data(), header, sizeof header);
        try {
            (void)decode_image(png, "huge.png");
            QFAIL("a 10-gigapixel picture was decoded");
        } catch (const Error& e) {
            QCOMPARE(e.kind(), ErrorKind::resources);
            QVERIFY2(std::string(e.what()).find("100000 x 100000") != std::string::npos, e.what());
        }
        // Found by fuzz_image: a BMP header asking for 2.4 GB reached OpenCV's allocation.
        const auto bmp = testing::read_file(testing::data_dir().parent_path() / "fuzz" / "corpus" / "image" / "regression-bmp-huge.bin");
        try {
            (void)decode_image(std::span(reinterpret_cast<const std::byte*>(bmp.data()), bmp.size()), "huge.bmp");
            QFAIL("a BMP declaring a gigapixel was decoded");
        } catch (const Error& e) {
            QCOMPARE(e.kind(), ErrorKind::resources);
            QVERIFY2(std::string(e.what()).find("huge.bmp: the picture is") != std::string::npos, e.what());
        }
    }

    void colourOrderIsRgb() {
        cv::Mat bgr(2, 3, CV_8UC3, cv::Scalar(10, 20, 30));  // B, G, R
        testing::write_file(path("c.png"), encode(bgr, ".png"));
        const auto image = load_image(path("c.png"));
        QCOMPARE(image.width, 3);
        QCOMPARE(image.height, 2);
        QCOMPARE(pixel(image, 2, 1), (std::array<int, 3>{30, 20, 10}));
    }

    void greyBecomesRgb() {
        testing::write_file(path("g.png"), encode(cv::Mat(4, 4, CV_8UC1, cv::Scalar(77)), ".png"));
        QCOMPARE(pixel(load_image(path("g.png")), 1, 1), (std::array<int, 3>{77, 77, 77}));
    }

    void alphaIsCompositedOnWhite() {
        cv::Mat bgra(2, 2, CV_8UC4, cv::Scalar(0, 0, 200, 0));  // fully transparent red
        bgra.at<cv::Vec4b>(0, 0) = cv::Vec4b(0, 0, 200, 255);    // one opaque red pixel
        bgra.at<cv::Vec4b>(1, 1) = cv::Vec4b(0, 0, 0, 128);      // half-transparent black
        testing::write_file(path("a.png"), encode(bgra, ".png"));
        const auto image = load_image(path("a.png"));
        QCOMPARE(pixel(image, 0, 0), (std::array<int, 3>{200, 0, 0}));
        QCOMPARE(pixel(image, 1, 0), (std::array<int, 3>{255, 255, 255}));
        QCOMPARE(pixel(image, 1, 1), (std::array<int, 3>{127, 127, 127}));
    }

    void sixteenBitIsScaled() {
        testing::write_file(path("d.png"), encode(cv::Mat(2, 2, CV_16UC3, cv::Scalar(65535, 257 * 100, 0)), ".png"));
        QCOMPARE(pixel(load_image(path("d.png")), 0, 0), (std::array<int, 3>{0, 100, 255}));
    }

    void exifOrientationIsApplied() {
        cv::Mat wide(20, 40, CV_8UC3, cv::Scalar(0, 0, 0));
        wide(cv::Rect(0, 0, 10, 20)).setTo(cv::Scalar(255, 255, 255));  // the left quarter is white
        auto jpeg = encode(wide, ".jpg");
        // An APP1 Exif segment holding only Orientation = 6 (rotate 90 degrees clockwise to view).
        const unsigned char exif[] = {0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00,
                                      0x01, 0x00, 0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00,
                                      0x00, 0x00, 0x00, 0x00};
        jpeg.insert(2, reinterpret_cast<const char*>(exif), sizeof exif);
        testing::write_file(path("rotated.jpg"), jpeg);
        const auto image = load_image(path("rotated.jpg"));
        QCOMPARE(image.width, 20);
        QCOMPARE(image.height, 40);
        QVERIFY(pixel(image, 10, 2)[0] > 200);   // the white band is now at the top
        QVERIFY(pixel(image, 10, 35)[0] < 50);
    }

    // A scanner's multi-page TIFF: each page by its number, each its own size; past the last, an error saying how
    // many there are. Any other picture has one page.
    void tiffPages() {
        const auto tiff = testing::data_dir() / "fixtures" / "pictures" / "scan-3-pages.tif";
        QCOMPARE(image_pages(tiff), 3);
        const std::vector<std::array<int, 5>> expected{{60, 80, 220, 20, 20}, {80, 60, 20, 200, 20}, {40, 40, 20, 20, 220}};
        for (int page = 0; page < 3; ++page) {
            const auto image = load_image(tiff, page);
            QCOMPARE(image.width, expected[page][0]);
            QCOMPARE(image.height, expected[page][1]);
            for (int c = 0; c < 3; ++c) QCOMPARE(int(image.pixels[static_cast<std::size_t>(c)]), expected[page][2 + c]);
        }
        try {
            (void)load_image(tiff, 3);
            QFAIL("a fourth page of a three-page TIFF was read");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("has 3 pages; page 4 was asked for") != std::string::npos, e.what());
        }
        const auto png = encode(cv::Mat(8, 8, CV_8UC3, cv::Scalar(1, 2, 3)), ".png");
        testing::write_file(path("one.png"), png);
        QCOMPARE(image_pages(path("one.png")), 1);
        QVERIFY_THROWS_EXCEPTION(Error, (void)load_image(path("one.png"), 1));
    }

    // A later page's size is read from its own directory before it is decoded: a 1x1 page, then one whose
    // directory declares 20 000 x 20 000 pixels (400 M, under OpenCV's own limit) over a single byte of data.
    void aHugeTiffPageIsRefusedBeforeDecoding() {
        std::string tiff("II*\0\x08\0\0\0", 8);
        const auto u16 = [&](unsigned v) { tiff += char(v & 0xff), tiff += char(v >> 8); };
        const auto u32 = [&](unsigned v) { u16(v & 0xffff), u16(v >> 16); };
        const auto directory = [&](unsigned side, unsigned next) {
            u16(9);
            for (const auto& [tag, value] : std::vector<std::pair<unsigned, unsigned>>{
                     {256, side}, {257, side}, {258, 8}, {259, 1}, {262, 1}, {273, 236}, {277, 1}, {278, 1}, {279, 1}}) {
                u16(tag), u16(tag == 273 || tag == 279 ? 4 : 3), u32(1), u32(value);  // LONG for offsets and counts, SHORT else
            }
            u32(next);
        };
        directory(1, 122);
        directory(20000, 0);
        tiff += char(128);  // the one pixel, at offset 236
        QCOMPARE(tiff.size(), std::size_t{237});
        testing::write_file(path("huge-page-2.tif"), tiff);
        QCOMPARE(image_pages(path("huge-page-2.tif")), 2);
        QCOMPARE(load_image(path("huge-page-2.tif"), 0).width, 1);
        try {
            (void)load_image(path("huge-page-2.tif"), 1);
            QFAIL("a 400 M pixel page was decoded");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("huge-page-2.tif page 2: the picture is 20000 x 20000 pixels (400 M)") != std::string::npos,
                     e.what());
        }
    }

    void corruptFilesGiveClearErrors() {
        const auto png = encode(cv::Mat(64, 64, CV_8UC3, cv::Scalar(1, 2, 3)), ".png");
        testing::write_file(path("truncated.png"), png.substr(0, png.size() / 3));
        testing::write_file(path("empty.png"), "");
        testing::write_file(path("text.jpg"), "this is not a picture");
        for (const char* name : {"truncated.png", "empty.png", "text.jpg"}) {
            try {
                (void)load_image(path(name));
                QFAIL((std::string(name) + " was accepted").c_str());
            } catch (const Error& e) {
                QCOMPARE(e.kind(), ErrorKind::format);
                QCOMPARE(e.file(), path(name).string());
            }
        }
        // A PDF given as a picture is named as one, with the way to its pages.
        testing::write_file(path("report.pdf"), "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n");
        try {
            (void)load_image(path("report.pdf"));
            QFAIL("a PDF was accepted as a picture");
        } catch (const Error& e) {
            QCOMPARE(e.kind(), ErrorKind::format);
            QVERIFY2(std::string(e.what()).find("a PDF document, not a picture: its pages are rendered first") != std::string::npos, e.what());
        }
        try {
            (void)load_image(path("missing.png"));
            QFAIL("a missing file was accepted");
        } catch (const Error& e) {
            QCOMPARE(e.kind(), ErrorKind::io);
        }
    }

    // Pillow's Image.resize, byte for byte (tests/reference/make_pil_resize_fixture.py): the LLaVA / DeepStack
    // processors resize with it.
    void matchesPillow() {
        const auto dir = testing::data_dir() / "fixtures" / "pil-resize";
        std::ifstream in(dir / "cases.json");
        const auto cases = nlohmann::json::parse(in).at("cases");
        QVERIFY(cases.size() >= 7);
        for (const auto& c : cases) {
            const auto source = load_image(testing::data_dir() / "images" / c.at("source").get<std::string>());
            const auto expected = load_image(dir / c.at("output").get<std::string>());
            const auto filter = c.at("filter") == "bilinear" ? ResampleFilter::bilinear : ResampleFilter::bicubic;
            const auto ours = resize_antialiased(source, c.at("size")[0], c.at("size")[1], filter, FixedPoint::pillow);
            QCOMPARE(ours.width, expected.width);
            QCOMPARE(ours.height, expected.height);
            int worst = 0;
            for (std::size_t i = 0; i < ours.pixels.size(); ++i)
                worst = std::max(worst, std::abs(int{ours.pixels[i]} - int{expected.pixels[i]}));
            QVERIFY2(worst == 0, qPrintable(QString::fromStdString(c.at("output").get<std::string>()) +
                                            QString(": %1 levels off").arg(worst)));
        }
    }

    void resizeEdgeCases() {
        const RgbImage one{1, 1, {10, 20, 30}};
        for (const auto precision : {FixedPoint::pillow, FixedPoint::torchvision}) {
            const auto same = resize_antialiased(one, 1, 1, ResampleFilter::bicubic, precision);
            QCOMPARE(same.pixels, one.pixels);
            // Every output of a one-pixel source is that pixel: the weights of each output are normalised to one.
            const auto grown = resize_antialiased(one, 5, 3, ResampleFilter::bicubic, precision);
            QCOMPARE(grown.pixels.size(), std::size_t{45});
            for (int i = 0; i < 15; ++i) QCOMPARE(grown.pixels[i * 3 + 1], std::uint8_t{20});
        }
        QVERIFY_THROWS_EXCEPTION(Error, resize_antialiased(RgbImage{}, 4, 4, ResampleFilter::bicubic, FixedPoint::pillow));
        QVERIFY_THROWS_EXCEPTION(Error, resize_antialiased(one, 0, 4, ResampleFilter::bicubic, FixedPoint::pillow));
        const RgbImage inconsistent{2, 2, {1, 2, 3}};
        QVERIFY_THROWS_EXCEPTION(Error, resize_antialiased(inconsistent, 4, 4, ResampleFilter::bicubic, FixedPoint::pillow));
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestImage)

}  // namespace test_image
#include "test_image.moc"

// Loading pictures: upright (EXIF), RGB from grey, alpha on white, 16-bit to 8-bit; corrupt files give a clear error.
#include <QTemporaryDir>
#include <QtTest>

#include <opencv2/imgcodecs.hpp>

#include "deepstack/error.h"
#include "deepstack/image.h"
#include "test_files.h"

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
        try {
            (void)load_image(path("missing.png"));
            QFAIL("a missing file was accepted");
        } catch (const Error& e) {
            QCOMPARE(e.kind(), ErrorKind::io);
        }
    }
};

QTEST_GUILESS_MAIN(TestImage)
#include "test_image.moc"

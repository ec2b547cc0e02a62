#include "deepstack/image.h"

#include <fstream>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "deepstack/error.h"

namespace deepstack {

namespace {

bool is_jpeg(std::span<const std::byte> bytes) {
    return bytes.size() >= 3 && bytes[0] == std::byte{0xFF} && bytes[1] == std::byte{0xD8} && bytes[2] == std::byte{0xFF};
}

RgbImage to_rgb_image(const cv::Mat& rgb) {
    RgbImage image;
    image.width = rgb.cols;
    image.height = rgb.rows;
    image.pixels.resize(static_cast<std::size_t>(rgb.cols) * static_cast<std::size_t>(rgb.rows) * 3);
    for (int y = 0; y < rgb.rows; ++y)
        std::memcpy(image.pixels.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(rgb.cols) * 3, rgb.ptr(y),
                    static_cast<std::size_t>(rgb.cols) * 3);
    return image;
}

}  // namespace

RgbImage decode_image(std::span<const std::byte> bytes, const std::string& name) {
    if (bytes.empty()) throw Error(ErrorKind::format, name, "the file is empty");
    const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<std::byte*>(bytes.data()));
    cv::Mat decoded;
    try {
        // JPEG has no alpha: IMREAD_COLOR decodes it upright (EXIF orientation) in one go. Other formats may
        // carry alpha or 16-bit channels, which IMREAD_COLOR would drop or truncate.
        decoded = cv::imdecode(buffer, is_jpeg(bytes) ? cv::IMREAD_COLOR : cv::IMREAD_UNCHANGED);
    } catch (const cv::Exception& e) {
        throw Error(ErrorKind::format, name, std::string("cannot decode the image: ") + e.what());
    }
    if (decoded.empty())
        throw Error(ErrorKind::format, name, "not an image this build can decode, or a corrupt one (PNG, JPEG, WebP, TIFF, BMP)");
    if (decoded.cols < 1 || decoded.rows < 1) throw Error(ErrorKind::format, name, "the image has no pixels");

    if (decoded.depth() == CV_16U) decoded.convertTo(decoded, CV_8U, 1.0 / 257.0);
    else if (decoded.depth() == CV_32F) decoded.convertTo(decoded, CV_8U, 255.0);
    else if (decoded.depth() != CV_8U) decoded.convertTo(decoded, CV_8U);

    cv::Mat rgb;
    switch (decoded.channels()) {
        case 1: cv::cvtColor(decoded, rgb, cv::COLOR_GRAY2RGB); break;
        case 3: cv::cvtColor(decoded, rgb, cv::COLOR_BGR2RGB); break;
        case 2:
        case 4: {
            cv::Mat bgra;
            if (decoded.channels() == 2) {
                std::vector<cv::Mat> planes;
                cv::split(decoded, planes);
                cv::merge(std::vector<cv::Mat>{planes[0], planes[0], planes[0], planes[1]}, bgra);
            } else {
                bgra = decoded;
            }
            // Composite onto white, as transformers' convert_to_rgb does.
            rgb.create(bgra.rows, bgra.cols, CV_8UC3);
            for (int y = 0; y < bgra.rows; ++y) {
                const auto* in = bgra.ptr<cv::Vec4b>(y);
                auto* out = rgb.ptr<cv::Vec3b>(y);
                for (int x = 0; x < bgra.cols; ++x) {
                    const int a = in[x][3];
                    for (int c = 0; c < 3; ++c)
                        out[x][2 - c] = static_cast<std::uint8_t>((in[x][c] * a + 255 * (255 - a) + 127) / 255);
                }
            }
            break;
        }
        default:
            throw Error(ErrorKind::unsupported, name, "images with " + std::to_string(decoded.channels()) + " channels are not supported");
    }
    return to_rgb_image(rgb);
}

RgbImage load_image(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw Error(ErrorKind::io, file.string(), "cannot open");
    std::vector<char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (in.bad()) throw Error(ErrorKind::io, file.string(), "read failed");
    return decode_image(std::as_bytes(std::span(bytes)), file.string());
}

}  // namespace deepstack

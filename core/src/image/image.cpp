#include "deepstack/image.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

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

// A TIFF file keeps each page's width and height in that page's directory; the directories form a chain that starts
// at the header's offset. `read(offset, count)` gives the file's bytes there, fewer at its end. nullopt: the chain
// breaks before the page, or its directory does not say.
template <class Read>
std::optional<std::pair<std::uint32_t, std::uint32_t>> tiff_declared_size(const Read& read, int page) {
    const auto header = read(0, 8);
    if (header.size() < 8) return std::nullopt;
    const bool little = header[0] == 'I';
    const auto u16 = [little](const std::vector<unsigned char>& b, std::size_t i) -> std::uint32_t {
        return little ? b[i] | b[i + 1] << 8 : b[i] << 8 | b[i + 1];
    };
    const auto u32 = [little](const std::vector<unsigned char>& b, std::size_t i) -> std::uint32_t {
        return little ? b[i] | b[i + 1] << 8 | b[i + 2] << 16 | static_cast<std::uint32_t>(b[i + 3]) << 24
                      : static_cast<std::uint32_t>(b[i]) << 24 | b[i + 1] << 16 | b[i + 2] << 8 | b[i + 3];
    };
    std::uint64_t directory = u32(header, 4);
    for (int skipped = 0; skipped < page; ++skipped) {
        const auto count = read(directory, 2);
        if (count.size() < 2) return std::nullopt;
        const auto next = read(directory + 2 + 12 * std::uint64_t{u16(count, 0)}, 4);
        if (next.size() < 4 || u32(next, 0) == 0) return std::nullopt;
        directory = u32(next, 0);
    }
    const auto count = read(directory, 2);
    if (count.size() < 2) return std::nullopt;
    const auto entries = read(directory + 2, 12 * std::size_t{u16(count, 0)});
    std::uint32_t width = 0, height = 0;
    for (std::size_t entry = 0; entry + 12 <= entries.size(); entry += 12) {
        const auto tag = u16(entries, entry), type = u16(entries, entry + 2);
        const auto value = type == 3 ? u16(entries, entry + 8) : u32(entries, entry + 8);  // SHORT or LONG
        if (tag == 256) width = value;
        if (tag == 257) height = value;
    }
    if (width > 0 && height > 0) return std::pair{width, height};
    return std::nullopt;
}

// The width and height a PNG, JPEG, BMP, WebP or TIFF header declares, read before anything is decoded; nullopt for other formats
// or a header that does not say.
std::optional<std::pair<std::uint32_t, std::uint32_t>> declared_size(std::span<const std::byte> bytes) {
    const auto at = [&](std::size_t i) { return static_cast<std::uint32_t>(std::to_integer<unsigned char>(bytes[i])); };
    const auto be16 = [&](std::size_t i) { return at(i) << 8 | at(i + 1); };
    const auto be32 = [&](std::size_t i) { return at(i) << 24 | at(i + 1) << 16 | at(i + 2) << 8 | at(i + 3); };
    if (bytes.size() >= 24 && at(0) == 0x89 && at(1) == 'P' && at(2) == 'N' && at(3) == 'G' && at(12) == 'I' && at(13) == 'H' &&
        at(14) == 'D' && at(15) == 'R')
        return std::pair{be32(16), be32(20)};
    const auto le16 = [&](std::size_t i) { return at(i) | at(i + 1) << 8; };
    const auto le32 = [&](std::size_t i) { return at(i) | at(i + 1) << 8 | at(i + 2) << 16 | at(i + 3) << 24; };
    if (bytes.size() >= 26 && at(0) == 'B' && at(1) == 'M') {  // BMP: the DIB header's width and height
        if (le32(14) == 12) return std::pair{le16(18), le16(20)};
        const auto h = static_cast<std::int32_t>(le32(22));
        return std::pair{static_cast<std::uint32_t>(std::abs(static_cast<std::int64_t>(static_cast<std::int32_t>(le32(18))))),
                         static_cast<std::uint32_t>(std::abs(static_cast<std::int64_t>(h)))};
    }
    if (bytes.size() >= 30 && at(0) == 'R' && at(8) == 'W' && at(12) == 'V' && at(13) == 'P' && at(14) == '8') {  // WebP
        if (at(15) == ' ') return std::pair{le16(26) & 0x3fffu, le16(28) & 0x3fffu};
        if (at(15) == 'L') {
            const auto bits = le32(21);
            return std::pair{(bits & 0x3fffu) + 1, ((bits >> 14) & 0x3fffu) + 1};
        }
        if (at(15) == 'X') return std::pair{(at(24) | at(25) << 8 | at(26) << 16) + 1, (at(27) | at(28) << 8 | at(29) << 16) + 1};
    }
    if (bytes.size() >= 8 && ((at(0) == 'I' && at(1) == 'I') || (at(0) == 'M' && at(1) == 'M')))
        return tiff_declared_size(
            [&](std::uint64_t offset, std::size_t count) {
                const auto there = offset < bytes.size() ? bytes.subspan(offset, std::min<std::uint64_t>(count, bytes.size() - offset))
                                                         : std::span<const std::byte>{};
                std::vector<unsigned char> out(there.size());
                std::memcpy(out.data(), there.data(), there.size());
                return out;
            },
            0);
    if (bytes.size() >= 4 && at(0) == 0xFF && at(1) == 0xD8) {
        // As libjpeg reads markers: bytes between segments are skipped, the frame header comes before the scan.
        std::size_t i = 2;
        while (i + 9 < bytes.size()) {
            if (at(i) != 0xFF) {
                ++i;
                continue;
            }
            const auto marker = at(i + 1);
            if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01 || marker == 0xFF || marker == 0x00) {
                i += marker == 0xFF ? 1 : 2;
                continue;
            }
            if (marker == 0xDA || marker == 0xD9) break;  // a scan or the end before any frame header
            const bool frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
            if (frame) return std::pair{be16(i + 7), be16(i + 5)};
            i += 2 + be16(i + 2);
        }
        return std::pair{0u, 0u};  // no frame header: nothing a decoder could read
    }
    return std::nullopt;
}

// Larger pictures are refused before decoding: 100 M pixels are up to 800 MB decoded (16-bit RGBA), and no model
// reads more than a few M of them (the picture budget resizes them down).
constexpr std::uint64_t kMaxDecodedPixels = 100'000'000;

RgbImage decoded_to_rgb(cv::Mat decoded, const std::string& name);

void refuse_declared_size(std::pair<std::uint32_t, std::uint32_t> size, const std::string& name) {
    const auto pixels = static_cast<std::uint64_t>(size.first) * size.second;
    if (pixels == 0) throw Error(ErrorKind::format, name, "the picture's header declares no pixels: a damaged file");
    if (pixels > kMaxDecodedPixels)
        throw Error(ErrorKind::resources, name,
                    "the picture is " + std::to_string(size.first) + " x " + std::to_string(size.second) + " pixels (" +
                        std::to_string(pixels / 1'000'000) + " M); pictures of up to " + std::to_string(kMaxDecodedPixels / 1'000'000) +
                        " M pixels are read: scale it down first (a model reads a few M of them anyway)");
}

}  // namespace

// The formats this loader reads, told by their first bytes. OpenCV would also try its other decoders (DICOM,
// JPEG 2000, OpenEXR, ...) on anything; Debian's GDCM aborts the process on a damaged DICOM header (found by
// fuzz_image), so only these five ever reach imdecode.
bool supported_signature(std::span<const std::byte> bytes) {
    const auto starts = [&](std::string_view magic, std::size_t at = 0) {
        if (bytes.size() < at + magic.size()) return false;
        for (std::size_t i = 0; i < magic.size(); ++i)
            if (std::to_integer<unsigned char>(bytes[at + i]) != static_cast<unsigned char>(magic[i])) return false;
        return true;
    };
    // OpenCV asks each decoder in turn whether the bytes are its own, and the DICOM one looks at offset 128: a file
    // that starts like one of ours but fails that decoder's own check still reaches GDCM (fuzz_image again).
    if (starts("DICM", 128)) return false;
    return starts("\x89PNG\r\n\x1a\n") || starts("\xff\xd8\xff") || (starts("RIFF") && starts("WEBP", 8)) ||
           starts(std::string_view("II*\0", 4)) || starts(std::string_view("MM\0*", 4)) || starts("BM");
}

RgbImage decode_image(std::span<const std::byte> bytes, const std::string& name) {
    if (bytes.empty()) throw Error(ErrorKind::format, name, "the file is empty");
    if (bytes.size() >= 5 && std::memcmp(bytes.data(), "%PDF-", 5) == 0)
        throw Error(ErrorKind::format, name,
                    "a PDF document, not a picture: its pages are rendered first (DeepStack Studio does it when it opens "
                    "the file; on a command line, e.g. `pdftoppm -png -r 144 -f 2 -l 2 FILE page` for page 2)");
    if (!supported_signature(bytes))
        throw Error(ErrorKind::format, name, "not a picture this app reads (PNG, JPEG, WebP, TIFF, BMP), or a damaged one");
    if (const auto size = declared_size(bytes)) refuse_declared_size(*size, name);
    const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<std::byte*>(bytes.data()));
    cv::Mat decoded;
    try {
        // JPEG has no alpha: IMREAD_COLOR decodes it upright (EXIF orientation) in one go. Other formats may
        // carry alpha or 16-bit channels, which IMREAD_COLOR would drop or truncate.
        decoded = cv::imdecode(buffer, is_jpeg(bytes) ? cv::IMREAD_COLOR : cv::IMREAD_UNCHANGED);
    } catch (const cv::Exception& e) {
        if (std::string(e.what()).find("CV_IO_MAX_IMAGE_PIXELS") != std::string::npos)
            throw Error(ErrorKind::resources, name, "the picture has more than the 100 M pixels this app reads: scale it down first");
        throw Error(ErrorKind::format, name, std::string("cannot decode the image: ") + e.err);
    }
    if (decoded.empty())
        throw Error(ErrorKind::format, name, "not an image this build can decode, or a corrupt one (PNG, JPEG, WebP, TIFF, BMP)");
    return decoded_to_rgb(decoded, name);
}

namespace {

bool is_tiff(std::span<const std::byte> head) {
    if (head.size() < 4) return false;
    const auto at = [&](std::size_t i) { return std::to_integer<unsigned char>(head[i]); };
    return (at(0) == 'I' && at(1) == 'I' && at(2) == '*' && at(3) == 0) || (at(0) == 'M' && at(1) == 'M' && at(2) == 0 && at(3) == '*');
}

std::vector<std::byte> read_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw Error(ErrorKind::io, file.string(), "cannot open");
    std::vector<char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (in.bad()) throw Error(ErrorKind::io, file.string(), "read failed");
    const auto view = std::as_bytes(std::span(bytes));
    return {view.begin(), view.end()};
}

// What every decoder's matrix becomes: 8-bit RGB, grey widened, alpha composited onto white.
RgbImage decoded_to_rgb(cv::Mat decoded, const std::string& name) {
    if (decoded.cols < 1 || decoded.rows < 1) throw Error(ErrorKind::format, name, "the image has no pixels");
    if (static_cast<std::uint64_t>(decoded.cols) * static_cast<std::uint64_t>(decoded.rows) > kMaxDecodedPixels)
        throw Error(ErrorKind::resources, name, "the picture has more than the 100 M pixels this app reads: scale it down first");

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

}  // namespace

int image_pages(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw Error(ErrorKind::io, file.string(), "cannot open");
    std::array<char, 4> head{};
    in.read(head.data(), head.size());  // the signature alone: the pages are counted by the decoder
    if (!is_tiff(std::as_bytes(std::span(head.data(), static_cast<std::size_t>(in.gcount()))))) return 1;
    try {
        return static_cast<int>(std::max<std::size_t>(1, cv::imcount(file.string(), cv::IMREAD_UNCHANGED)));
    } catch (const cv::Exception&) {
        return 1;  // the first page is what decode_image reads; its own errors say what is wrong
    }
}

RgbImage load_image(const std::filesystem::path& file, int page) {
    if (page == 0) return decode_image(read_file(file), file.string());
    const auto pages = image_pages(file);
    if (page < 0 || page >= pages)
        throw Error(ErrorKind::config, file.string(),
                    "has " + std::to_string(pages) + (pages == 1 ? " page" : " pages") + "; page " + std::to_string(page + 1) + " was asked for");
    const auto name = file.string() + " page " + std::to_string(page + 1);
    std::ifstream in(file, std::ios::binary);
    const auto read_at = [&in](std::uint64_t offset, std::size_t count) {
        std::vector<unsigned char> out(count);
        in.clear();
        in.seekg(static_cast<std::streamoff>(offset));
        in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(count));
        out.resize(in ? count : static_cast<std::size_t>(std::max<std::streamsize>(0, in.gcount())));
        return out;
    };
    if (const auto size = tiff_declared_size(read_at, page)) refuse_declared_size(*size, name);
    std::vector<cv::Mat> read;
    try {
        cv::imreadmulti(file.string(), read, page, 1, cv::IMREAD_UNCHANGED);
    } catch (const cv::Exception& e) {
        throw Error(ErrorKind::format, file.string(), "cannot decode page " + std::to_string(page + 1) + ": " + e.err);
    }
    if (read.empty() || read.front().empty())
        throw Error(ErrorKind::format, file.string(), "page " + std::to_string(page + 1) + " cannot be decoded: a damaged file");
    return decoded_to_rgb(read.front(), name);
}

}  // namespace deepstack

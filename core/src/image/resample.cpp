#include "deepstack/resample.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "deepstack/error.h"

namespace deepstack {

namespace {

double filter_support(ResampleFilter filter) { return filter == ResampleFilter::bicubic ? 2.0 : 1.0; }

double filter_weight(ResampleFilter filter, double x) {
    x = std::abs(x);
    if (filter == ResampleFilter::bilinear) return x < 1.0 ? 1.0 - x : 0.0;
    constexpr double a = -0.5;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

// One axis: for each output sample, the first input sample it reads, how many, and their integer weights.
struct AxisTaps {
    std::vector<int> first;
    std::vector<int> count;
    std::vector<std::int32_t> weights;  // [out, taps_per_output], zero past `count`
    int taps_per_output = 0;
    int fraction_bits = 0;
};

// Round half away from zero, as both references do when they turn weights into integers.
std::int32_t round_away(double v) { return static_cast<std::int32_t>(v < 0 ? v - 0.5 : v + 0.5); }

AxisTaps compute_taps(int in_size, int out_size, ResampleFilter filter, FixedPoint precision) {
    const double scale = static_cast<double>(in_size) / out_size;
    const double stretch = std::max(scale, 1.0);  // a shrinking filter widens to cover the source samples it merges
    const double support = filter_support(filter) * stretch;
    const double inverse = 1.0 / stretch;

    AxisTaps taps;
    taps.taps_per_output = static_cast<int>(std::ceil(support)) * 2 + 1;
    taps.first.resize(out_size);
    taps.count.resize(out_size);
    std::vector<double> real(static_cast<std::size_t>(out_size) * taps.taps_per_output, 0.0);
    double largest = 0.0;
    for (int i = 0; i < out_size; ++i) {
        const double center = scale * (i + 0.5);
        // Truncation toward zero (not floor) is what the references do; center - support + 0.5 can be negative.
        const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
        const int hi = std::min(static_cast<int>(center + support + 0.5), in_size);
        const int count = std::clamp(hi - lo, 0, taps.taps_per_output);
        double* row = &real[static_cast<std::size_t>(i) * taps.taps_per_output];
        double total = 0.0;
        for (int j = 0; j < count; ++j) total += row[j] = filter_weight(filter, (j + lo - center + 0.5) * inverse);
        if (total != 0.0)
            for (int j = 0; j < count; ++j) largest = std::max(largest, row[j] /= total);
        taps.first[i] = lo;
        taps.count[i] = count;
    }

    if (precision == FixedPoint::pillow) {
        taps.fraction_bits = 22;
    } else {
        // The most bits for which the largest weight, doubled, still fits in an int16.
        int bits = 0;
        for (; bits < 22; ++bits)
            if (static_cast<int>(0.5 + largest * static_cast<double>(1 << (bits + 1))) >= (1 << 15)) break;
        taps.fraction_bits = bits;
    }
    const double one = static_cast<double>(1 << taps.fraction_bits);
    taps.weights.resize(real.size());
    for (std::size_t k = 0; k < real.size(); ++k) taps.weights[k] = round_away(real[k] * one);
    return taps;
}

std::uint8_t to_byte(std::int64_t accumulated, int fraction_bits) {
    return static_cast<std::uint8_t>(std::clamp<std::int64_t>(accumulated >> fraction_bits, 0, 255));
}

RgbImage resize_rows(const RgbImage& in, const AxisTaps& taps, int out_width) {
    RgbImage out{out_width, in.height, std::vector<std::uint8_t>(static_cast<std::size_t>(out_width) * in.height * 3)};
    const std::int64_t half = std::int64_t{1} << (taps.fraction_bits - 1 < 0 ? 0 : taps.fraction_bits - 1);
    for (int y = 0; y < in.height; ++y) {
        const std::uint8_t* src = &in.pixels[static_cast<std::size_t>(y) * in.width * 3];
        std::uint8_t* dst = &out.pixels[static_cast<std::size_t>(y) * out_width * 3];
        for (int x = 0; x < out_width; ++x) {
            const std::int32_t* w = &taps.weights[static_cast<std::size_t>(x) * taps.taps_per_output];
            std::int64_t sum[3] = {half, half, half};
            for (int j = 0; j < taps.count[x]; ++j) {
                const std::uint8_t* p = src + static_cast<std::size_t>(taps.first[x] + j) * 3;
                for (int c = 0; c < 3; ++c) sum[c] += std::int64_t{p[c]} * w[j];
            }
            for (int c = 0; c < 3; ++c) dst[x * 3 + c] = to_byte(sum[c], taps.fraction_bits);
        }
    }
    return out;
}

RgbImage resize_columns(const RgbImage& in, const AxisTaps& taps, int out_height) {
    const std::size_t row_bytes = static_cast<std::size_t>(in.width) * 3;
    RgbImage out{in.width, out_height, std::vector<std::uint8_t>(row_bytes * out_height)};
    const std::int64_t half = std::int64_t{1} << (taps.fraction_bits - 1 < 0 ? 0 : taps.fraction_bits - 1);
    for (int y = 0; y < out_height; ++y) {
        const std::int32_t* w = &taps.weights[static_cast<std::size_t>(y) * taps.taps_per_output];
        std::uint8_t* dst = &out.pixels[static_cast<std::size_t>(y) * row_bytes];
        for (std::size_t k = 0; k < row_bytes; ++k) {
            std::int64_t sum = half;
            for (int j = 0; j < taps.count[y]; ++j) sum += std::int64_t{in.pixels[(taps.first[y] + j) * row_bytes + k]} * w[j];
            dst[k] = to_byte(sum, taps.fraction_bits);
        }
    }
    return out;
}

}  // namespace

RgbImage resize_antialiased(const RgbImage& image, int width, int height, ResampleFilter filter, FixedPoint precision) {
    if (image.width < 1 || image.height < 1 ||
        image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * 3)
        throw Error(ErrorKind::format, "", "cannot resize an empty or inconsistent picture (" +
                                               std::to_string(image.width) + "x" + std::to_string(image.height) + ")");
    if (width < 1 || height < 1)
        throw Error(ErrorKind::internal, "",
                    "cannot resize a picture to " + std::to_string(width) + "x" + std::to_string(height));
    RgbImage result = image;
    if (width != image.width) result = resize_rows(result, compute_taps(image.width, width, filter, precision), width);
    if (height != image.height)
        result = resize_columns(result, compute_taps(image.height, height, filter, precision), height);
    return result;
}

}  // namespace deepstack

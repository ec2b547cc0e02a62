#include "models/qwen3_vl/processor.h"

#include <cfenv>
#include <cmath>

#include <torch/torch.h>

#include "deepstack/error.h"
#include "deepstack/resample.h"

namespace deepstack::qwen3_vl {

namespace {
// Python's round(): ties go to the even neighbour (1104 / 32 = 34.5 -> 34), unlike std::round.
double round_half_even(double x) {
    const int previous = std::fegetround();
    std::fesetround(FE_TONEAREST);
    const double rounded = std::nearbyint(x);
    std::fesetround(previous);
    return rounded;
}
}  // namespace

std::pair<std::int64_t, std::int64_t> smart_resize(std::int64_t height, std::int64_t width, std::int64_t factor,
                                                   const PixelBudget& budget) {
    const auto longer = std::max(height, width), shorter = std::min(height, width);
    if (shorter < 1) throw Error(ErrorKind::format, "", "the image has no pixels");
    if (static_cast<double>(longer) / static_cast<double>(shorter) > 200.0)
        throw Error(ErrorKind::unsupported, "", "the image is " + std::to_string(width) + "x" + std::to_string(height) +
                                                    ": its aspect ratio is beyond 200:1; crop it first");
    const double f = static_cast<double>(factor), h = static_cast<double>(height), w = static_cast<double>(width);
    auto h_bar = static_cast<std::int64_t>(round_half_even(h / f)) * factor;
    auto w_bar = static_cast<std::int64_t>(round_half_even(w / f)) * factor;
    if (h_bar * w_bar > budget.max_pixels) {
        const double beta = std::sqrt(h * w / static_cast<double>(budget.max_pixels));
        h_bar = std::max(factor, static_cast<std::int64_t>(std::floor(h / beta / f)) * factor);
        w_bar = std::max(factor, static_cast<std::int64_t>(std::floor(w / beta / f)) * factor);
    } else if (h_bar * w_bar < budget.min_pixels) {
        const double beta = std::sqrt(static_cast<double>(budget.min_pixels) / (h * w));
        h_bar = static_cast<std::int64_t>(std::ceil(h * beta / f)) * factor;
        w_bar = static_cast<std::int64_t>(std::ceil(w * beta / f)) * factor;
    }
    return {h_bar, w_bar};
}

ProcessedImage preprocess(const RgbImage& image, const ImagePreprocessorConfig& pre, const PixelBudget& budget) {
    const auto patch = pre.patch_size > 0 ? pre.patch_size : 16;
    const auto merge = pre.merge_size > 0 ? pre.merge_size : 2;
    const auto temporal = pre.temporal_patch_size > 0 ? pre.temporal_patch_size : 2;
    const auto [h, w] = smart_resize(image.height, image.width, patch * merge, budget);

    // transformers' fast processor resizes the uint8 tensor; on the CPU that is torchvision's fixed-point path,
    // which differs from its float path by up to 14 levels at hard edges.
    auto picture = resize_antialiased(image, static_cast<int>(w), static_cast<int>(h), ResampleFilter::bicubic,
                                      FixedPoint::torchvision);
    const auto resized = torch::from_blob(picture.pixels.data(), {h, w, 3}, torch::kUInt8).permute({2, 0, 1});  // [3, H', W']

    // Rescale and normalise fused, as the fast processor does: (x - mean / rescale) / (std / rescale).
    const auto mean = pre.present ? pre.image_mean : std::array<double, 3>{0.5, 0.5, 0.5};
    const auto deviation = pre.present ? pre.image_std : std::array<double, 3>{0.5, 0.5, 0.5};
    constexpr double rescale = 1.0 / 255.0;
    const auto mean_t = torch::tensor({mean[0] / rescale, mean[1] / rescale, mean[2] / rescale}, torch::kFloat32).view({3, 1, 1});
    const auto std_t = torch::tensor({deviation[0] / rescale, deviation[1] / rescale, deviation[2] / rescale}, torch::kFloat32).view({3, 1, 1});
    const auto normalized = (resized.to(torch::kFloat32) - mean_t) / std_t;

    // One picture is a video of `temporal` identical frames; patches are cut merge-window by merge-window.
    const auto gh = h / patch, gw = w / patch;
    const auto frames = normalized.unsqueeze(0).expand({temporal, 3, h, w});
    const auto patches = frames.reshape({1, temporal, 3, gh / merge, merge, patch, gw / merge, merge, patch})
                             .permute({0, 3, 6, 4, 7, 2, 1, 5, 8})
                             .reshape({gh * gw, 3 * temporal * patch * patch});
    return {patches.contiguous(), Grid{1, gh, gw}};
}

}  // namespace deepstack::qwen3_vl

#include "models/qwen3_vl/processor.h"

#include <cmath>

#include <torch/types.h>

#include "deepstack/error.h"
#include "deepstack/resample.h"

namespace deepstack::qwen3_vl {

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

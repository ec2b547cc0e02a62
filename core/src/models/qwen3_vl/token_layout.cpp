#include "models/qwen3_vl/token_layout.h"

#include <cfenv>
#include <cmath>
#include <string>

#include "deepstack/error.h"

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

PixelBudget effective_budget(const PixelBudget& requested, const ImagePreprocessorConfig& preprocessor) {
    PixelBudget budget = requested;
    if (budget.min_pixels <= 0) budget.min_pixels = preprocessor.min_pixels > 0 ? preprocessor.min_pixels : 65536;
    if (budget.max_pixels <= 0) budget.max_pixels = preprocessor.max_pixels > 0 ? preprocessor.max_pixels : 16777216;
    return budget;
}

StackPlan stack_plan(const Config& config, const PixelBudget& budget, std::int64_t width, std::int64_t height) {
    const auto& v = config.vision;
    const auto [h, w] = smart_resize(height, width, v.patch_size * v.spatial_merge_size, budget);
    // Merged tokens run row-major over the resized picture (no padding), each covering merge x merge patches.
    const auto rows = h / (v.patch_size * v.spatial_merge_size), columns = w / (v.patch_size * v.spatial_merge_size);
    StackPlan plan;
    plan.family = config.model_type;
    plan.variant = "Qwen3-VL";
    plan.language_layers = config.text.num_hidden_layers;
    plan.vision_layers = v.depth;
    plan.image_width = width;
    plan.image_height = height;
    plan.input_rows = rows;
    plan.input_columns = columns;
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < columns; ++c)
            plan.input_regions.push_back({static_cast<double>(c) / static_cast<double>(columns), static_cast<double>(r) / static_cast<double>(rows),
                                          static_cast<double>(c + 1) / static_cast<double>(columns),
                                          static_cast<double>(r + 1) / static_cast<double>(rows)});
    const auto count = v.deepstack_visual_indexes.size();
    for (std::size_t k = 0; k < count; ++k) {
        StackGroup group;
        group.label = "group " + std::to_string(k + 1) + " of " + std::to_string(count);
        group.source = "vision block " + std::to_string(v.deepstack_visual_indexes[k]) + " of " + std::to_string(v.depth) +
                       ", through DeepStack merger " + std::to_string(k);
        group.layer = static_cast<std::int64_t>(k);
        group.before_layer = false;
        group.ever_added = group.layer < config.text.num_hidden_layers;
        group.grid_rows = rows;
        group.grid_columns = columns;
        group.regions = plan.input_regions;  // the same merged grid, from an earlier depth of the tower
        plan.groups.push_back(std::move(group));
    }
    return plan;
}

}  // namespace deepstack::qwen3_vl

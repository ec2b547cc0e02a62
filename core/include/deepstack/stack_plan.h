// The stack plan: for one image in one model, which visual tokens enter the language model at its input, and
// which stacked group is added at which layer, with the part of the image every token stands for. Data only (no
// LibTorch), computed from config.json alone: the stack map view, the heatmaps and `deepstack-cli attention`
// draw from it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace deepstack {

// A rectangle of the picture in fractions of its width and height (0..1). Empty for tokens that stand for no
// part of it (DeepStack-L-HD's row-end tokens).
struct ImageRegion {
    double left = 0, top = 0, right = 0, bottom = 0;
    bool empty() const { return right <= left || bottom <= top; }
    bool contains(double x, double y) const { return x >= left && x < right && y >= top && y < bottom; }
};

enum class Tower { language, vision };

// One stacked group of high-resolution tokens.
struct StackGroup {
    std::string label;   // "group 2 of 4"
    std::string source;  // where its tokens come from, in words
    Tower tower = Tower::language;
    std::int64_t layer = 0;     // the layer it is added at
    bool before_layer = true;   // added to that layer's input (DeepStack-L, -V) or to its output (Qwen3-VL)
    bool ever_added = true;     // false when its layer is past the model's last one, or its crop does not exist
    // The grid it is sampled from, over the whole picture, and the 2-D sampling offset inside each neighbourhood
    // of (stride_rows x stride_columns) cells: token (r, c) carries cell (r * stride + offset). Stride 1 when the
    // group is a whole grid (Qwen3-VL's vision depths).
    std::int64_t grid_rows = 0, grid_columns = 0;
    std::int64_t offset_row = 0, offset_column = 0, stride_rows = 1, stride_columns = 1;
    // For every token of the tower's image sequence (the language model's visual positions, or the ViT's patch
    // tokens for DeepStack-V), the grid cell whose feature this group adds to it.
    std::vector<ImageRegion> regions;

    // The first layer whose attention sees this group.
    std::int64_t first_layer_seeing_it() const { return before_layer ? layer : layer + 1; }
};

struct StackPlan {
    std::string family;   // model_type
    std::string variant;  // "DeepStack-L", "DeepStack-L-HD", "DeepStack-V", "Qwen3-VL"
    std::int64_t language_layers = 0;
    std::int64_t vision_layers = 0;
    std::int64_t image_width = 0, image_height = 0;
    // The visual tokens of the language model's input, in sequence order, and the grid they are laid out on (for
    // DeepStack-L-HD the global view's grid; its high-resolution tokens follow with their own regions).
    std::int64_t input_rows = 0, input_columns = 0;
    std::vector<ImageRegion> input_regions;
    std::vector<StackGroup> groups;  // bottom to top

    std::int64_t input_tokens() const { return static_cast<std::int64_t>(input_regions.size()); }
    // The group added at `layer` of the language model (first_layer_seeing_it() == layer), or null.
    const StackGroup* group_seen_first_at(std::int64_t layer) const;
};

// The plan for a picture of width x height in the model folder `folder` (its config.json and, for Qwen3-VL,
// preprocessor_config.json; a non-zero pixel budget overrides the folder's, as EngineOptions does).
// Throws deepstack::Error naming the file for a folder it cannot read or a family without stacks.
StackPlan stack_plan(const std::filesystem::path& folder, std::int64_t width, std::int64_t height,
                     std::int64_t min_pixels = 0, std::int64_t max_pixels = 0);

}  // namespace deepstack

#include "models/deepstack_llama/token_layout.h"

#include <cmath>
#include <limits>
#include <string>

namespace deepstack::deepstack_llama {

std::vector<CropGrid> candidate_grids(std::int64_t num_crops) {
    std::vector<CropGrid> grids;
    for (std::int64_t i = 1; i <= num_crops; ++i)
        for (std::int64_t j = 1; j <= num_crops / i; ++j)
            if (i != 1 || j != 1) grids.push_back({i, j});
    return grids;
}

CropGrid select_grid(std::int64_t width, std::int64_t height, const std::vector<CropGrid>& candidates, std::int64_t crop) {
    CropGrid best{};
    std::int64_t best_effective = 0;
    std::int64_t least_waste = std::numeric_limits<std::int64_t>::max();
    const auto original = width * height;
    for (const auto& g : candidates) {
        const auto cw = g.columns * crop, ch = g.rows * crop;
        const double scale = std::min(static_cast<double>(cw) / static_cast<double>(width), static_cast<double>(ch) / static_cast<double>(height));
        const auto dw = static_cast<std::int64_t>(static_cast<double>(width) * scale);
        const auto dh = static_cast<std::int64_t>(static_cast<double>(height) * scale);
        const auto effective = std::min(dw * dh, original);
        const auto waste = cw * ch - effective;
        if (effective > best_effective || (effective == best_effective && waste < least_waste)) {
            best_effective = effective;
            least_waste = waste;
            best = g;
        }
    }
    return best;
}

namespace {

// Cell (row, column) of a rows x columns grid laid over the whole picture (every view is a plain resize, no padding).
ImageRegion cell(std::int64_t row, std::int64_t column, std::int64_t rows, std::int64_t columns) {
    return {static_cast<double>(column) / static_cast<double>(columns), static_cast<double>(row) / static_cast<double>(rows),
            static_cast<double>(column + 1) / static_cast<double>(columns), static_cast<double>(row + 1) / static_cast<double>(rows)};
}

std::vector<ImageRegion> whole_grid(std::int64_t rows, std::int64_t columns) {
    std::vector<ImageRegion> regions;
    for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t c = 0; c < columns; ++c) regions.push_back(cell(r, c, rows, columns));
    return regions;
}

std::string ordinal_group(std::size_t k, std::size_t count) {
    return "group " + std::to_string(k + 1) + " of " + std::to_string(count);
}

// DeepStack-V: the picture at twice the size as 2x2 crops; their (2g x 2g) mosaic is sampled into 4 groups, group
// (i, j) adding mosaic cell (2r + i, 2c + j) to the global view's patch token (r, c) inside the vision tower.
void plan_vision_stacks(const Config& config, std::int64_t start, StackPlan& plan) {
    const auto g = config.vision.grid();
    plan.variant = "DeepStack-V";
    for (std::int64_t k = 0; k < 4; ++k) {
        StackGroup group;
        group.label = ordinal_group(static_cast<std::size_t>(k), 4);
        group.tower = Tower::vision;
        group.layer = start + k;
        group.grid_rows = group.grid_columns = 2 * g;
        group.offset_row = k / 2;
        group.offset_column = k % 2;
        group.stride_rows = group.stride_columns = 2;
        group.source = "2x2 high-resolution crops, cell (" + std::to_string(group.offset_row) + ", " +
                       std::to_string(group.offset_column) + ") of every 2x2 neighbourhood";
        for (std::int64_t r = 0; r < g; ++r)
            for (std::int64_t c = 0; c < g; ++c) group.regions.push_back(cell(2 * r + k / 2, 2 * c + k % 2, 2 * g, 2 * g));
        plan.groups.push_back(std::move(group));
    }
}

// DeepStack-L: the crops' (rows * g) x (columns * g) feature map, group (i, j) token (r, c) = map cell
// (r * rows + i, c * columns + j); a picture with fewer crops than num_crops leaves the last groups zero.
void plan_language_stacks(const Config& config, const CropGrid& grid, StackPlan& plan) {
    const auto g = config.vision.grid();
    plan.variant = "DeepStack-L";
    for (std::int64_t k = 0; k < config.num_crops; ++k) {
        StackGroup group;
        group.label = ordinal_group(static_cast<std::size_t>(k), static_cast<std::size_t>(config.num_crops));
        group.layer = config.deepstack_start_id + k * config.deepstack_interval;
        group.grid_rows = grid.rows * g;
        group.grid_columns = grid.columns * g;
        group.stride_rows = grid.rows;
        group.stride_columns = grid.columns;
        const bool exists = k < grid.cells();
        group.ever_added = exists && group.layer < config.text.num_hidden_layers;
        if (exists) {
            group.offset_row = k / grid.columns;
            group.offset_column = k % grid.columns;
            group.source = "the " + std::to_string(grid.columns) + "x" + std::to_string(grid.rows) + " crops' feature map, cell (" +
                           std::to_string(group.offset_row) + ", " + std::to_string(group.offset_column) + ") of every " +
                           std::to_string(grid.rows) + "x" + std::to_string(grid.columns) + " neighbourhood";
            for (std::int64_t r = 0; r < g; ++r)
                for (std::int64_t c = 0; c < g; ++c)
                    group.regions.push_back(cell(r * grid.rows + group.offset_row, c * grid.columns + group.offset_column,
                                                 group.grid_rows, group.grid_columns));
        } else {
            group.source = "zeros: this picture's " + std::to_string(grid.columns) + "x" + std::to_string(grid.rows) + " grid has only " +
                           std::to_string(grid.cells()) + " crops";
            group.regions.assign(static_cast<std::size_t>(g * g), ImageRegion{});
        }
        if (exists && !group.ever_added) group.source += " (never added: past the last layer)";
        plan.groups.push_back(std::move(group));
    }
}

// DeepStack-L-HD: the input is the global view's g x g tokens, then the crops' map row by row with a row-end
// token; every view was also encoded at twice the size as up x up sub-crops, whose mosaic is sampled alike.
void plan_high_definition_stacks(const Config& config, const CropGrid& grid, StackPlan& plan) {
    const auto g = config.vision.grid();
    plan.variant = "DeepStack-L-HD";
    const auto rows = grid.rows * g, columns = grid.columns * g;
    for (std::int64_t r = 0; r < rows; ++r) {
        for (std::int64_t c = 0; c < columns; ++c) plan.input_regions.push_back(cell(r, c, rows, columns));
        plan.input_regions.push_back({});  // image_newline
    }
    const auto up = static_cast<std::int64_t>(std::sqrt(static_cast<double>(config.num_crops)));
    for (std::int64_t k = 0; k < up * up; ++k) {
        StackGroup group;
        group.label = ordinal_group(static_cast<std::size_t>(k), static_cast<std::size_t>(up * up));
        group.layer = config.deepstack_start_id + k * config.deepstack_interval;
        group.ever_added = group.layer < config.text.num_hidden_layers;
        group.grid_rows = rows * up;
        group.grid_columns = columns * up;
        group.offset_row = k / up;
        group.offset_column = k % up;
        group.stride_rows = group.stride_columns = up;
        group.source = "every view re-encoded as " + std::to_string(up) + "x" + std::to_string(up) + " sub-crops, cell (" +
                       std::to_string(group.offset_row) + ", " + std::to_string(group.offset_column) + ") of every " +
                       std::to_string(up) + "x" + std::to_string(up) + " neighbourhood";
        if (!group.ever_added) group.source += " (never added: past the last layer)";
        for (std::int64_t r = 0; r < g; ++r)
            for (std::int64_t c = 0; c < g; ++c)
                group.regions.push_back(cell(r * up + group.offset_row, c * up + group.offset_column, g * up, g * up));
        for (std::int64_t r = 0; r < rows; ++r) {
            for (std::int64_t c = 0; c < columns; ++c)
                group.regions.push_back(cell(r * up + group.offset_row, c * up + group.offset_column, group.grid_rows, group.grid_columns));
            group.regions.push_back({});
        }
        plan.groups.push_back(std::move(group));
    }
}

}  // namespace

StackPlan stack_plan(const Config& config, std::int64_t width, std::int64_t height) {
    const auto g = config.vision.grid();
    StackPlan plan;
    plan.family = "deepstack_llama";
    plan.language_layers = config.text.num_hidden_layers;
    plan.vision_layers = config.vision.num_hidden_layers;
    plan.image_width = width;
    plan.image_height = height;
    plan.input_rows = plan.input_columns = g;
    plan.input_regions = whole_grid(g, g);  // the global view: the whole picture squeezed to one crop
    if (const auto start = config.vit_stack_start_layer()) {
        plan_vision_stacks(config, *start, plan);
    } else if (config.stacks_disabled()) {
        plan.variant = "DeepStack-L twin without stacks";
    } else {
        const auto grid = select_grid(width, height, candidate_grids(config.num_crops), config.vision.image_size);
        if (config.is_anyres_deepstack) plan_high_definition_stacks(config, grid, plan);
        else plan_language_stacks(config, grid, plan);
    }
    return plan;
}

}  // namespace deepstack::deepstack_llama

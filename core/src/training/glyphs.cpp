#include "training/glyphs.h"

namespace deepstack {

torch::Tensor glyph_targets(const std::vector<SyntheticGlyph>& glyphs, const deepstack_llama::CropGrid& grid, std::int64_t crop, std::int64_t patch) {
    const auto per_side = crop / patch;
    auto targets = torch::zeros({grid.cells(), per_side * per_side, kSlotColumns * kSlotRows}, torch::kLong);
    auto cells = targets.accessor<std::int64_t, 3>();
    for (const auto& glyph : glyphs) {
        if (glyph.character <= ' ' || glyph.character > '~') continue;
        const double x = glyph.x * static_cast<double>(grid.columns * crop), y = glyph.y * static_cast<double>(grid.rows * crop);
        if (x < 0 || y < 0 || x >= static_cast<double>(grid.columns * crop) || y >= static_cast<double>(grid.rows * crop)) continue;
        const auto column = static_cast<std::int64_t>(x), row = static_cast<std::int64_t>(y);
        const auto view = (row / crop) * grid.columns + column / crop;
        const auto at = ((row % crop) / patch) * per_side + (column % crop) / patch;
        const auto slot = ((row % patch) * kSlotRows / patch) * kSlotColumns + (column % patch) * kSlotColumns / patch;
        auto& cell = cells[view][at][slot];
        if (cell == 0) cell = glyph.character - ' ';  // two centres in one slot: the first printed keeps it
    }
    return targets;
}

}  // namespace deepstack

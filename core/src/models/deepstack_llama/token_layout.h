// Where an image's tokens come from in the DeepStack LLaVA family, without LibTorch: the grid of crops chosen for
// a picture (LLaVA-NeXT's rule) and the stack plan (which group of high-resolution tokens enters at which layer,
// and the part of the picture each token carries). Internal.
#pragma once

#include <cstdint>
#include <vector>

#include "deepstack/stack_plan.h"
#include "models/deepstack_llama/config.h"

namespace deepstack::deepstack_llama {

struct CropGrid {
    std::int64_t columns = 1;  // grid_w
    std::int64_t rows = 1;     // grid_h
    std::int64_t cells() const { return columns * rows; }
};

// Candidate (width, height) in crops for `num_crops`: (1,2), (1,3), ... every i * j <= num_crops but (1,1).
std::vector<CropGrid> candidate_grids(std::int64_t num_crops);
// LLaVA-NeXT's select_best_resolution: the most effective pixels, then the least waste, first one on a tie.
CropGrid select_grid(std::int64_t width, std::int64_t height, const std::vector<CropGrid>& candidates, std::int64_t crop);

// DeepStack-L: group k enters before decoder layer start + k * interval; DeepStack-L-HD: the same with its
// LLaVA-NeXT input layout; DeepStack-V: group k enters before vision layer start + k.
StackPlan stack_plan(const Config& config, std::int64_t width, std::int64_t height);

}  // namespace deepstack::deepstack_llama

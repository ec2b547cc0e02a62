// Where a picture becomes the DeepStack LLaVA views, exactly as the authors' process_anyres_image: the best grid
// of crops for the aspect ratio (LLaVA-NeXT's rule), plain Pillow bicubic resizes (no padding), the global view
// first, then the crops row-major, CLIP normalisation. DeepStack-L-HD adds the 2x re-encoded views; DeepStack-V
// always uses the 2x2 grid. Internal.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "deepstack/image.h"
#include "deepstack/model_folder.h"
#include "models/deepstack_llama/config.h"
#include "models/deepstack_llama/token_layout.h"

namespace deepstack::deepstack_llama {

struct ClipPreprocessing {
    std::int64_t crop = 336;
    std::array<double, 3> mean{0.48145466, 0.4578275, 0.40821073};
    std::array<double, 3> std{0.26862954, 0.26130258, 0.27577711};
};
// The folder's preprocessor_config.json when it has one (the released checkpoints do not), else the CLIP processor
// of the vision config's image size. `folder` may be empty (random weights). Error naming the file when its crop
// size disagrees with the vision tower.
ClipPreprocessing clip_preprocessing(const std::filesystem::path& folder, const Config& config);

struct ImageViews {
    torch::Tensor pixels;  // [N, 3, S, S] fp32, normalised
    CropGrid grid;
};

ImageViews make_views(const RgbImage& image, const Config& config, const ClipPreprocessing& clip);

}  // namespace deepstack::deepstack_llama

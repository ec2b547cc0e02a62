#include "models/deepstack_llama/processor.h"

#include <torch/types.h>

#include "deepstack/error.h"
#include "deepstack/resample.h"

namespace deepstack::deepstack_llama {

namespace {

RgbImage resize(const RgbImage& image, std::int64_t width, std::int64_t height) {
    // Pillow's Image.resize with its default filter for RGB pictures, BICUBIC.
    return resize_antialiased(image, static_cast<int>(width), static_cast<int>(height), ResampleFilter::bicubic, FixedPoint::pillow);
}

// divide_to_patches: crop x crop tiles, row-major. The sizes are multiples of `crop` here, so no tile is partial.
std::vector<RgbImage> tiles(const RgbImage& image, std::int64_t crop) {
    std::vector<RgbImage> out;
    for (std::int64_t y = 0; y < image.height; y += crop)
        for (std::int64_t x = 0; x < image.width; x += crop) {
            RgbImage tile{static_cast<int>(crop), static_cast<int>(crop), std::vector<std::uint8_t>(static_cast<std::size_t>(crop * crop * 3))};
            for (std::int64_t row = 0; row < crop; ++row)
                std::copy_n(&image.pixels[static_cast<std::size_t>(((y + row) * image.width + x) * 3)], crop * 3,
                            &tile.pixels[static_cast<std::size_t>(row * crop * 3)]);
            out.push_back(std::move(tile));
        }
    return out;
}

}  // namespace

ClipPreprocessing clip_preprocessing(const std::filesystem::path& folder, const Config& config) {
    ClipPreprocessing clip;
    clip.crop = config.vision.image_size;
    const auto path = folder / "preprocessor_config.json";
    if (folder.empty() || !std::filesystem::exists(path)) return clip;
    const auto file = read_preprocessor_config(path);
    if (file.crop_size > 0 && file.crop_size != config.vision.image_size)
        throw Error(ErrorKind::config, path.string(),
                    "crop_size " + std::to_string(file.crop_size) + " differs from the vision tower's image_size " +
                        std::to_string(config.vision.image_size));
    clip.mean = file.image_mean;
    clip.std = file.image_std;
    return clip;
}

ImageViews make_views(const RgbImage& image, const Config& config, const ClipPreprocessing& clip) {
    const auto crop = clip.crop;
    if (image.width < 1 || image.height < 1) throw Error(ErrorKind::format, "", "the image has no pixels");
    ImageViews views;
    views.grid = select_grid(image.width, image.height, candidate_grids(config.num_crops), crop);
    // 2xsample (and DeepStack-V, whose vision tower needs exactly 2x2 crops) fixes the grid to sqrt(num_crops)^2.
    if (config.has_flag("2xsample") || config.vit_stack_start_layer()) {
        const auto side = static_cast<std::int64_t>(std::sqrt(static_cast<double>(config.num_crops)));
        views.grid = {side, side};
    }
    const auto& grid = views.grid;

    std::vector<RgbImage> crops;
    crops.push_back(resize(image, crop, crop));  // the global view
    for (auto& t : tiles(resize(image, grid.columns * crop, grid.rows * crop), crop)) crops.push_back(std::move(t));
    if (config.is_anyres_deepstack) {
        // The 2x views: the global view at twice the size in 4 tiles, then each grid cell's 2x2 sub-crops.
        const auto up = static_cast<std::int64_t>(std::sqrt(static_cast<double>(config.num_crops)));
        for (auto& t : tiles(resize(image, crop * up, crop * up), crop)) crops.push_back(std::move(t));
        const auto fine = tiles(resize(image, grid.columns * crop * up, grid.rows * crop * up), crop);
        const auto fine_columns = grid.columns * up;
        for (std::int64_t r = 0; r < grid.rows; ++r)
            for (std::int64_t c = 0; c < grid.columns; ++c)
                for (std::int64_t i = 0; i < up; ++i)
                    for (std::int64_t j = 0; j < up; ++j)
                        crops.push_back(fine[static_cast<std::size_t>((r * up + i) * fine_columns + c * up + j)]);
    }

    // Rescale and normalise as CLIPImageProcessor: (x / 255 - mean) / std, per channel.
    const auto n = static_cast<std::int64_t>(crops.size());
    auto pixels = torch::empty({n, crop, crop, 3}, torch::kUInt8);
    for (std::int64_t k = 0; k < n; ++k)
        std::memcpy(pixels[k].data_ptr<std::uint8_t>(), crops[static_cast<std::size_t>(k)].pixels.data(), static_cast<std::size_t>(crop * crop * 3));
    const auto mean = torch::tensor({clip.mean[0], clip.mean[1], clip.mean[2]}, torch::kFloat64).view({1, 3, 1, 1});
    const auto deviation = torch::tensor({clip.std[0], clip.std[1], clip.std[2]}, torch::kFloat64).view({1, 3, 1, 1});
    views.pixels = ((pixels.permute({0, 3, 1, 2}).to(torch::kFloat64) / 255.0 - mean) / deviation).to(torch::kFloat32).contiguous();
    return views;
}

}  // namespace deepstack::deepstack_llama

#include "models/qwen3_vl/family.h"

#include "deepstack/model_folder.h"
#include "models/qwen3_vl/architecture.h"
#include "models/qwen3_vl/config.h"
#include "models/qwen3_vl/gguf.h"
#include "models/qwen3_vl/token_layout.h"

namespace deepstack::qwen3_vl {

models::Family family() {
    models::Family f;
    f.name = "qwen3_vl";
    f.model_types = {"qwen3_vl", "qwen3_vl_moe"};
    f.describe = [](const config::Fields& root) { return describe(parse_config(root)); };
    f.stack_plan = [](const config::Fields& root, const std::filesystem::path& folder, std::int64_t width,
                      std::int64_t height, std::int64_t min_pixels, std::int64_t max_pixels) {
        const auto preprocessor_path = folder / "preprocessor_config.json";
        const auto preprocessor =
            std::filesystem::exists(preprocessor_path) ? read_preprocessor_config(preprocessor_path) : ImagePreprocessorConfig{};
        return stack_plan(parse_config(root), effective_budget({min_pixels, max_pixels}, preprocessor), width, height);
    };
    f.gguf_architectures = {"qwen3vl"};
    f.config_from_gguf = config_from_gguf;
    f.gguf_location = gguf_location;
    return f;
}

}  // namespace deepstack::qwen3_vl

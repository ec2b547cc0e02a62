// The public stack_plan(): reads the folder's config and asks its family (models/*/token_layout.cpp).
#include "deepstack/stack_plan.h"

#include "config/json_fields.h"
#include "deepstack/error.h"
#include "deepstack/model_folder.h"
#include "models/deepstack_llama/token_layout.h"
#include "models/qwen3_vl/token_layout.h"

namespace deepstack {

const StackGroup* StackPlan::group_seen_first_at(std::int64_t layer) const {
    for (const auto& group : groups)
        if (group.tower == Tower::language && group.ever_added && group.first_layer_seeing_it() == layer) return &group;
    return nullptr;
}

StackPlan stack_plan(const std::filesystem::path& folder, std::int64_t width, std::int64_t height, std::int64_t min_pixels,
                     std::int64_t max_pixels) {
    if (width < 1 || height < 1)
        throw Error(ErrorKind::format, "", "a stack plan needs a picture with pixels, not " + std::to_string(width) + "x" + std::to_string(height));
    const auto config_path = folder / "config.json";
    const auto json = config::read_json_file(config_path);
    const config::Fields root(json, config_path.string());
    const auto model_type = root.string("model_type", "");
    if (model_type == "qwen3_vl" || model_type == "qwen3_vl_moe") {
        const auto preprocessor_path = folder / "preprocessor_config.json";
        const auto preprocessor = std::filesystem::exists(preprocessor_path) ? read_preprocessor_config(preprocessor_path) : ImagePreprocessorConfig{};
        return qwen3_vl::stack_plan(qwen3_vl::parse_config(root), qwen3_vl::effective_budget({min_pixels, max_pixels}, preprocessor),
                                    width, height);
    }
    if (model_type == "deepstack_llama" || model_type == "llava_llama") {
        const auto config = deepstack_llama::parse_config(root);
        if (const auto problems = deepstack_llama::check_config(config); !problems.empty())
            throw Error(ErrorKind::config, config_path.string(), problems.front());
        return deepstack_llama::stack_plan(config, width, height);
    }
    throw Error(ErrorKind::unsupported, config_path.string(), "model_type '" + model_type + "' has no stack plan in this build");
}

}  // namespace deepstack

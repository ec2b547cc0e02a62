// The public stack_plan(): reads the folder's config and asks its family (models/registry.h).
#include "deepstack/stack_plan.h"

#include "config/json_fields.h"
#include "deepstack/error.h"
#include "models/registry.h"

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
    const auto& family = models::family_of(root);
    if (family.stack_plan == nullptr)
        throw Error(ErrorKind::unsupported, config_path.string(), "the " + family.name + " family has no stack plan in this build");
    return family.stack_plan(root, folder, width, height, min_pixels, max_pixels);
}

}  // namespace deepstack

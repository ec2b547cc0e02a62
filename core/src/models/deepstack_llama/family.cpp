#include "models/deepstack_llama/family.h"

#include "config/checked_config.h"
#include "deepstack/error.h"
#include "models/deepstack_llama/architecture.h"
#include "models/deepstack_llama/config.h"
#include "models/deepstack_llama/token_layout.h"

namespace deepstack::deepstack_llama {

models::Family family() {
    models::Family f;
    f.name = "deepstack_llama";
    f.model_types = {"deepstack_llama"};
    f.architectures = {"DeepstackLlamaForCausalLM"};
    // LLaVA re-saves keep model_type llava_llama and say DeepStack in image_aspect_ratio.
    f.also_recognises = [](const config::Fields& root) {
        return root.string("model_type", "") == "llava_llama" && root.string("image_aspect_ratio", "") == "deepstack";
    };
    f.describe = [](const config::Fields& root) { return describe(parse_config(root)); };
    f.stack_plan = [](const config::Fields& root, const std::filesystem::path&, std::int64_t width, std::int64_t height,
                      std::int64_t, std::int64_t) {
        return stack_plan(config::parse_checked(root, parse_config, check_config), width, height);
    };
    return f;
}

}  // namespace deepstack::deepstack_llama

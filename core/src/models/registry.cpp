#include "models/registry.h"

#include "models/deepstack_llama/architecture.h"
#include "models/qwen3_vl/architecture.h"

namespace deepstack::models {

std::vector<std::string> known_model_types() { return {"qwen3_vl", "qwen3_vl_moe", "deepstack_llama"}; }

namespace {
bool has_architecture(const config::Fields& root, const std::string& name) {
    if (!root.has("architectures") || !root.json().at("architectures").is_array()) return false;
    for (const auto& a : root.json().at("architectures"))
        if (a.is_string() && a.get<std::string>() == name) return true;
    return false;
}
}  // namespace

ArchitectureDescription describe(const config::Fields& root) {
    const auto model_type = root.string("model_type", "");
    if (model_type == "qwen3_vl" || model_type == "qwen3_vl_moe") return qwen3_vl::describe(qwen3_vl::parse_config(root));
    // The authors' checkpoints say deepstack_llama; LLaVA re-saves keep llava_llama with image_aspect_ratio set.
    if (model_type == "deepstack_llama" || has_architecture(root, "DeepstackLlamaForCausalLM") ||
        (model_type == "llava_llama" && root.string("image_aspect_ratio", "") == "deepstack"))
        return deepstack_llama::describe(deepstack_llama::parse_config(root));

    std::string known;
    for (const auto& t : known_model_types()) known += (known.empty() ? "" : ", ") + t;
    throw Error(ErrorKind::unsupported, root.file(),
                "model_type '" + model_type + "' is not a family this build knows (known: " + known + ")");
}

}  // namespace deepstack::models

#include "models/registry.h"

#include <algorithm>

#include "deepstack/error.h"
#include "models/deepstack_llama/family.h"
#include "models/qwen3_vl/family.h"

namespace deepstack::models {

const std::vector<Family>& families() {
    static const std::vector<Family> table{
        qwen3_vl::family(),
        deepstack_llama::family(),
    };
    return table;
}

std::vector<std::string> known_model_types() {
    std::vector<std::string> types;
    for (const auto& f : families()) types.insert(types.end(), f.model_types.begin(), f.model_types.end());
    return types;
}

namespace {
bool has_architecture(const config::Fields& root, const std::string& name) {
    if (!root.has("architectures") || !root.json().at("architectures").is_array()) return false;
    for (const auto& a : root.json().at("architectures"))
        if (a.is_string() && a.get<std::string>() == name) return true;
    return false;
}
}  // namespace

const Family& family_of(const config::Fields& root) {
    const auto model_type = root.string("model_type", "");
    for (const auto& f : families())
        if (std::find(f.model_types.begin(), f.model_types.end(), model_type) != f.model_types.end()) return f;
    for (const auto& f : families()) {
        for (const auto& a : f.architectures)
            if (has_architecture(root, a)) return f;
        if (f.also_recognises != nullptr && f.also_recognises(root)) return f;
    }
    std::string known;
    for (const auto& t : known_model_types()) known += (known.empty() ? "" : ", ") + t;
    throw Error(ErrorKind::unsupported, root.file(),
                "model_type '" + model_type + "' is not a family this build knows (known: " + known + ")");
}

const Family* family_of_gguf(const std::string& architecture) {
    for (const auto& f : families())
        if (std::find(f.gguf_architectures.begin(), f.gguf_architectures.end(), architecture) != f.gguf_architectures.end()) return &f;
    return nullptr;
}

ArchitectureDescription describe(const config::Fields& root) { return family_of(root).describe(root); }

}  // namespace deepstack::models

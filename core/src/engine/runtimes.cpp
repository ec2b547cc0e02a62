// The families the engine can run: adding one is its folder and one line here (and one in models/registry.cpp).
#include "engine/family.h"
#include "models/deepstack_llama/runtime.h"
#include "models/qwen3_vl/runtime.h"

namespace deepstack::engine {

const std::vector<Runtime>& runtimes() {
    static const std::vector<Runtime> all = {
        qwen3_vl::runtime(),
        deepstack_llama::runtime(),
    };
    return all;
}

const Runtime* runtime_of(const std::string& model_type) {
    for (const auto& runtime : runtimes())
        if (runtime.model_type == model_type) return &runtime;
    return nullptr;
}

}  // namespace deepstack::engine

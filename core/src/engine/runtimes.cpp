// The families the engine can run: adding one is its folder and one line here (and one in models/registry.cpp).
#include "engine/family.h"
#include "models/deepstack_llama/runtime.h"
#include "models/qwen3_vl/runtime.h"

namespace deepstack::engine {

const Runtime* runtime_of(const std::string& model_type) {
    static const Runtime runtimes[] = {
        qwen3_vl::runtime(),
        deepstack_llama::runtime(),
    };
    for (const auto& runtime : runtimes)
        if (runtime.model_type == model_type) return &runtime;
    return nullptr;
}

}  // namespace deepstack::engine

#pragma once

#include "models/architecture.h"
#include "models/deepstack_llama/config.h"

namespace deepstack::deepstack_llama {

// Every tensor of a DeepStack LLaVA checkpoint (CLIP tower, projector, LLaMA), the stack plan and sizes.
models::ArchitectureDescription describe(const Config& config);

}  // namespace deepstack::deepstack_llama

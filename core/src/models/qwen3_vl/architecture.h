#pragma once

#include "models/architecture.h"
#include "models/qwen3_vl/config.h"

namespace deepstack::qwen3_vl {

// Every tensor of a Qwen3-VL checkpoint with its shape, the DeepStack plan (vision block -> LLM layer) and sizes.
models::ArchitectureDescription describe(const Config& config);

}  // namespace deepstack::qwen3_vl

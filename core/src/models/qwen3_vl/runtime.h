// Qwen3-VL as the engine runs it: the Instruct chat template, images to patches, prefill and decode steps.
#pragma once

#include <memory>

#include "deepstack/engine.h"
#include "deepstack/model_folder.h"
#include "engine/family.h"
#include "models/qwen3_vl/model.h"
#include "models/qwen3_vl/processor.h"

namespace deepstack::qwen3_vl {

// The engine's entry for Qwen3-VL folders: the model, its processor, and the image budget in force.
engine::Runtime runtime();
// `deepstack-cli bench` for this family (bench.cpp).
std::string bench(const engine::BenchRun& run);

}  // namespace deepstack::qwen3_vl

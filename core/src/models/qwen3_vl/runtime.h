// Qwen3-VL as the engine runs it: the Instruct chat template, images to patches, prefill and decode steps.
#pragma once

#include <memory>

#include "deepstack/engine.h"
#include "deepstack/model_folder.h"
#include "engine/family.h"
#include "models/qwen3_vl/model.h"
#include "models/qwen3_vl/processor.h"

namespace deepstack::qwen3_vl {

// The folder's preprocessor_config.json budget, where `requested` leaves a bound at 0.
PixelBudget folder_budget(const std::filesystem::path& folder, const PixelBudget& requested);

std::unique_ptr<engine::Family> make_family(const std::filesystem::path& folder, const LoadOptions& load,
                                            const Tokenizer& tokenizer, const PixelBudget& budget);

}  // namespace deepstack::qwen3_vl

// The DeepStack LLaVA checkpoints' entry in the family table (models/registry.h).
#pragma once

#include "models/registry.h"

namespace deepstack::deepstack_llama {

models::Family family();

}  // namespace deepstack::deepstack_llama

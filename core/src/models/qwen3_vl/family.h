// Qwen3-VL's entry in the family table (models/registry.h).
#pragma once

#include "models/registry.h"

namespace deepstack::qwen3_vl {

models::Family family();

}  // namespace deepstack::qwen3_vl

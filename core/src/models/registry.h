// The one place that maps a config.json to the family that runs it.
#pragma once

#include <string>
#include <vector>

#include "config/json_fields.h"
#include "models/architecture.h"

namespace deepstack::models {

// Throws Error(unsupported) naming the model_type when no family here knows it, Error(config) on bad fields.
ArchitectureDescription describe(const config::Fields& root);

std::vector<std::string> known_model_types();

}  // namespace deepstack::models

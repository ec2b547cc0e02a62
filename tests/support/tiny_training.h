// Training options for the tiny DeepStack-L fixture on 64-pixel synthetic pages: the training suites' runs
// (test_training's checks of the trainer's bookkeeping, test_training_convergence's of what it learns).
#pragma once

#include <cstdint>
#include <filesystem>

#include "deepstack/training.h"
#include "test_files.h"

namespace deepstack::testing {

inline const std::filesystem::path& tiny_training_base() {
    static const auto base = data_dir() / "fixtures" / "deepstack" / "deepstack-l";
    return base;
}

inline TrainingOptions tiny_training(const std::filesystem::path& output, std::int64_t steps) {
    TrainingOptions o;
    o.base = tiny_training_base();
    o.output = output;
    o.steps = steps;
    o.batch = 2;
    o.warmup_steps = 2;
    o.checkpoint_every = 1000;
    o.learning_rate = 3e-3;
    o.threads = 2;
    o.pages.page_size = 64;
    return o;
}

}  // namespace deepstack::testing

// `deepstack-cli bench`: load, vision encode, prefill and decode timed on a real folder or on random weights of
// a published model's shapes; memory measured, not estimated. For the DeepStack LLaVA family it also times the
// paper's comparison: the same LLM prefilled with the global tokens plus the stacks, and with every view's tokens
// strung into the sequence instead.
#pragma once

#include <filesystem>
#include <string>

#include "deepstack/engine.h"

namespace deepstack {

struct BenchOptions {
    std::filesystem::path model;  // a model folder, or empty with `random_preset`
    std::string random_preset;    // "qwen3-vl-2b", "qwen3-vl-4b", "qwen3-vl-8b", "deepstack-l-7b", "deepstack-l-hd-7b"
    int layers = 0;               // random presets: keep only the first N decoder layers (0: all), to fit small machines
    EngineOptions engine;
    int image_width = 640;        // 0: no image
    int image_height = 480;
    int prompt_text_tokens = 32;
    int new_tokens = 16;
    int repeat = 1;               // Qwen3-VL: timed passes; each phase reports its median over them
    // Qwen3-VL: also how long Stop takes to end the vision pass and the prefill: the flag is set from another thread
    // at 20, 40, 60 and 80 % of each (by the timed pass's duration), and the time until the pass returns is reported.
    bool stop_latency = false;
    std::uint64_t seed = 0;
};

// Returns the measurements as pretty JSON. Throws deepstack::Error.
std::string run_bench(const BenchOptions& options);

}  // namespace deepstack

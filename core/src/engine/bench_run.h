// What a family's bench (models/<family>/bench.cpp) shares with the others: the run's settings and the fields every
// report has. engine/bench.cpp chooses the family by its model_type or preset. Internal (LibTorch).
#pragma once

#include <cstddef>
#include <vector>

#include <nlohmann/json.hpp>

#include "deepstack/bench.h"
#include "deepstack/image.h"
#include "nn/weights.h"

namespace deepstack::engine {

struct BenchRun {
    const BenchOptions& options;
    nn::LoadOptions load;  // dtype, device and the matrices' format the options ask for
    bool cuda = false;
    int threads = 1;
    ComputeType compute = ComputeType::f32;
    void sync() const;  // waits for the GPU's queued work, so that a timing ends when the work does
};

// A picture with detail everywhere: the timings depend on shapes, not content.
RgbImage synthetic_image(int width, int height);
// What the CPU's threads read from DRAM per second, measured now (the decode step's bound).
double measure_read_gb_per_s();
// The fields every report starts with: what ran, where, how (CPU, kernels, BLAS).
nlohmann::ordered_json report_header(const BenchRun& run);
// The timings every report has, in the same order.
void add_timings(nlohmann::ordered_json& j, std::size_t prompt_tokens, int new_tokens, double load_ms, double vision_ms,
                 double prefill_ms, const std::vector<double>& decode_ms);
// GPU memory at the peak, or null on the CPU.
void add_cuda_memory(nlohmann::ordered_json& j, bool cuda);

}  // namespace deepstack::engine

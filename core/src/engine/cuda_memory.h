// The GPU memory a run took, from LibTorch's CUDA caching allocator. Internal; free of LibTorch's headers.
#pragma once

#include <cstdint>
#include <optional>

namespace deepstack::engine {

struct CudaMemoryPeak {
    std::int64_t reserved_bytes = 0;   // held from the driver at the peak: what the GPU must have free
    std::int64_t allocated_bytes = 0;  // in live tensors at the peak
};

// Returns cached blocks to the driver and zeroes the peaks of GPU 0 (before the part of a run to measure).
void reset_cuda_memory_peak();
// The peaks of GPU 0 since the last reset; nullopt where this build cannot read the allocator's counters (a
// LibTorch without CUDA, or built without the CUDA runtime's headers) or no GPU is in use.
std::optional<CudaMemoryPeak> cuda_memory_peak();

}  // namespace deepstack::engine

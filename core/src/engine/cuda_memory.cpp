#include "engine/cuda_memory.h"

#include <torch/cuda.h>

#ifdef DEEPSTACK_CUDA_ALLOCATOR_STATS
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace deepstack::engine {

#ifdef DEEPSTACK_CUDA_ALLOCATOR_STATS
namespace {
// The counters' first entry is the aggregate over the small and large pools.
constexpr std::size_t kAllPools = 0;
}  // namespace

void reset_cuda_memory_peak() {
    if (!torch::cuda::is_available()) return;
    // Blocks cached from earlier work (loading's fp32 temporaries, say) would count as held otherwise.
    c10::cuda::CUDACachingAllocator::emptyCache();
    c10::cuda::CUDACachingAllocator::resetPeakStats(0);
}

std::optional<CudaMemoryPeak> cuda_memory_peak() {
    if (!torch::cuda::is_available()) return std::nullopt;
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(0);
    return CudaMemoryPeak{stats.reserved_bytes[kAllPools].peak, stats.allocated_bytes[kAllPools].peak};
}
#else
void reset_cuda_memory_peak() {}
std::optional<CudaMemoryPeak> cuda_memory_peak() { return std::nullopt; }
#endif

}  // namespace deepstack::engine

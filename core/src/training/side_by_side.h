// Work spread over threads of its own, for the trainer's pages and the evaluation's: the demo model is too small
// for two cores to share one page well, so each core takes a page of its own. Internal to the core.
#pragma once

#include <cstdint>
#include <functional>

namespace deepstack {

// Calls task(worker, index) for every index 0 .. count - 1 on `workers` threads, each with `threads_each` LibTorch
// threads; a free worker takes the next index, so the order of the calls is not fixed (callers keep each index's
// result apart). Returns once every worker has stopped; the first failure is rethrown then, the other workers
// taking no new index after it.
void side_by_side(std::int64_t count, int workers, int threads_each, const std::function<void(int worker, std::int64_t index)>& task);

}  // namespace deepstack

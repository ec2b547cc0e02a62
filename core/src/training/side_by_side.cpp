#include "training/side_by_side.h"

#include <atomic>
#include <exception>
#include <thread>
#include <vector>

#include <ATen/Parallel.h>

namespace deepstack {

void side_by_side(std::int64_t count, int workers, int threads_each, const std::function<void(int worker, std::int64_t index)>& task) {
    std::atomic<std::int64_t> next{0};
    std::vector<std::exception_ptr> failures(static_cast<std::size_t>(workers));
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w)
        threads.emplace_back([&, w] {
            try {
                at::set_num_threads(threads_each);
                for (auto i = next++; i < count; i = next++) task(w, i);
            } catch (...) {
                failures[static_cast<std::size_t>(w)] = std::current_exception();
                next = count;
            }
        });
    for (auto& thread : threads) thread.join();
    for (const auto& failure : failures)
        if (failure) std::rethrow_exception(failure);
}

}  // namespace deepstack

// Wall-clock milliseconds, the one way timings are taken (bench, the engine's turn timings, the runtimes' vision
// passes).
#pragma once

#include <chrono>

namespace deepstack {

inline double elapsed_ms(std::chrono::steady_clock::time_point since) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

}  // namespace deepstack

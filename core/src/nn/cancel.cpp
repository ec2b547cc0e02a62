#include "nn/cancel.h"

#include "deepstack/error.h"

namespace deepstack::nn {

namespace {
thread_local const std::atomic<bool>* current_flag = nullptr;
}

CancelScope::CancelScope(const std::atomic<bool>* flag) : previous_(current_flag) { current_flag = flag; }

CancelScope::~CancelScope() { current_flag = previous_; }

void stop_if_cancelled() {
    if (current_flag != nullptr && current_flag->load(std::memory_order_relaxed))
        throw Error(ErrorKind::cancelled, "", "stopped");
}

}  // namespace deepstack::nn

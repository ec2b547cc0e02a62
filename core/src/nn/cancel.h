// Stopping a long pass between layers. The engine names the flag that may stop a question's work (CancelScope,
// for the thread that runs it); the vision towers' and the decoder's layer loops call stop_if_cancelled()
// between layers, which throws Error(cancelled) once the flag is set. So a picture's vision pass or a long
// prefill ends within one layer's time of Stop. Torch-free.
#pragma once

#include <atomic>

namespace deepstack::nn {

class CancelScope {
public:
    explicit CancelScope(const std::atomic<bool>* flag);
    ~CancelScope();
    CancelScope(const CancelScope&) = delete;
    CancelScope& operator=(const CancelScope&) = delete;

private:
    const std::atomic<bool>* previous_;
};

// Throws Error(cancelled) when the innermost CancelScope's flag on this thread is set; nothing without a scope.
void stop_if_cancelled();

}  // namespace deepstack::nn

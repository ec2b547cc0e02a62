// The device the parity tests compute on. CPU by default; DEEPSTACK_TEST_DEVICE=cuda runs the same comparisons
// against the same reference outputs on the GPU (installer/gpu-check.sh does, on a machine that has one). A GPU
// asked for and missing is an error, never a silent fall-back to the CPU.
#pragma once

#include <cstdlib>
#include <stdexcept>
#include <string>

#include <ATen/Context.h>
#include <torch/cuda.h>
#include <torch/types.h>

namespace deepstack::testing {

inline c10::Device compute_device() {
    const char* asked = std::getenv("DEEPSTACK_TEST_DEVICE");
    const std::string name = asked ? asked : "cpu";
    if (name == "cpu") return c10::Device(c10::kCPU);
    if (name != "cuda") throw std::runtime_error("DEEPSTACK_TEST_DEVICE=" + name + ": expected cpu or cuda");
    if (!torch::cuda::is_available())
        throw std::runtime_error("DEEPSTACK_TEST_DEVICE=cuda, but this LibTorch sees no GPU");
    // The references are fp32: TF32 matmuls and convolutions (cuDNN's default) would be a different computation.
    at::globalContext().setAllowTF32CuBLAS(false);
    at::globalContext().setAllowTF32CuDNN(false);
    return c10::Device(c10::kCUDA, 0);
}

}  // namespace deepstack::testing

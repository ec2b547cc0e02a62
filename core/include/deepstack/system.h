// Facts about the machine the core runs on, read from the operating system, and the one choice made from them
// before anything else runs: which kernels the BLAS library uses.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace deepstack {

std::uint64_t available_memory_bytes();  // MemAvailable; 0 when unknown

// While one lives, available_memory_bytes() answers `bytes`: how tests meet a machine short of memory (every check
// made before a large allocation reads that function). Not for use beside other threads that read it.
class ScopedAvailableMemory {
public:
    explicit ScopedAvailableMemory(std::uint64_t bytes);
    ~ScopedAvailableMemory();
    ScopedAvailableMemory(const ScopedAvailableMemory&) = delete;
    ScopedAvailableMemory& operator=(const ScopedAvailableMemory&) = delete;

private:
    std::uint64_t previous_;
};
std::uint64_t peak_rss_bytes();          // this process's peak resident set (VmHWM); 0 when unknown
std::uint64_t resident_memory_bytes();   // this process's resident set now (VmRSS); 0 when unknown
// For a long loop that frees and allocates the same large buffers again and again (training): glibc keeps freed
// memory for reuse instead of returning it to the kernel, which then faults it in again, page by page. The demo
// model's trainer went from 35 000 minor page faults a second to 4, and from 6.0 to 6.6 pages/s on a 2-core EPYC
// (the same settings given through glibc's MALLOC_*_ environment variables, each run 7 minutes from a fresh start).
// The process keeps its peak heap. Does nothing where the C library is not glibc.
void keep_freed_memory_for_reuse();

struct CpuInfo {
    std::string model;                  // "AMD EPYC 9R14", "Intel(R) Xeon(R) Platinum 8488C"; "" when unknown
    int cores = 0;                      // logical processors this process may use
    // The instruction sets kernels are chosen by, as the kernel names them (avx2, fma, avx512f, avx512bw,
    // avx512vl, avx512dq, avx512_bf16, avx512_vnni, avx_vnni, amx_bf16, amx_int8, f16c), those present only.
    std::vector<std::string> features;
    bool has(const std::string& feature) const;
};
CpuInfo cpu_info();

// The BLAS library LibTorch's fp32 matmuls run on, when it is OpenBLAS (Debian's LibTorch); empty when another
// (MKL inside PyPI's LibTorch) or none is loaded.
struct BlasInfo {
    std::string library;   // openblas_get_config(): "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64"
    std::string kernels;   // the kernels it runs: "SkylakeX"
    std::string detected;  // what it chose by itself, when choose_blas_kernels() overrode it ("Prescott")
    std::string forced;    // OPENBLAS_CORETYPE, when it was set before DeepStack could choose (then left alone)
    std::string possible;  // better kernels this CPU could run, when those running are worse ("SkylakeX")
};
BlasInfo blas_info();

// The OpenBLAS kernels to run on `cpu` instead of `running` ("SkylakeX" for a Sapphire Rapids Xeon or an AVX-512
// EPYC, "Haswell" for AVX2 + FMA), or "" when `running` is as good as the CPU allows.
std::string better_blas_kernels(const CpuInfo& cpu, const std::string& running);

// OpenBLAS 0.3.21 (Debian 12) does not know newer CPUs: it runs SSE3 kernels on a Sapphire Rapids Xeon
// ("Prescott", 4.5x slower prefill) and AVX2 ones on an AVX-512 EPYC ("Haswell", 1.4x slower training). It picks
// its kernels when it is loaded, before main(), from OPENBLAS_CORETYPE, so this sets that variable from the CPU's
// own features and starts the program again (execv of /proc/self/exe with the same arguments) when the library
// chose worse. Call it first thing in main(). Does nothing when OPENBLAS_CORETYPE is already set (the user's
// choice wins), when no OpenBLAS is loaded, or when it already chose as well.
void choose_blas_kernels(char** argv);

// The line bench and the About box show: "AMD EPYC 9R14, 2 cores (avx2 fma avx512f ...); BLAS: OpenBLAS 0.3.21
// SkylakeX kernels (it detected Haswell)".
std::string describe_cpu_and_blas();

}  // namespace deepstack

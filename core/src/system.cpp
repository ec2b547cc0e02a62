#include "deepstack/system.h"

#include <dlfcn.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

namespace deepstack {

namespace {
// The value of `key` (in kB) in a /proc file of "Key:   value kB" lines, in bytes.
std::uint64_t proc_kib_field(const char* file, const std::string& key) {
    std::ifstream in(file);
    std::string name;
    while (in >> name) {
        if (name == key) {
            std::uint64_t kib = 0;
            in >> kib;
            return kib * 1024;
        }
        in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
    }
    return 0;
}

// The text after "key<spaces>:" on the first /proc/cpuinfo line that starts with key.
std::string cpuinfo_field(const std::string& key) {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (!line.starts_with(key)) continue;
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        auto value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        return value;
    }
    return {};
}

// How good OpenBLAS kernels for x86 are, coarsely: AVX-512, AVX2 + FMA, older.
int kernel_rank(std::string name) {
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (name == "skylakex" || name == "cooperlake" || name == "sapphirerapids") return 3;
    if (name == "haswell" || name == "zen") return 2;
    return 1;
}

// OpenBLAS's own answers, when it is loaded into this process.
std::string openblas_text(const char* function) {
    using Text = char* (*)();
    const auto get = reinterpret_cast<Text>(dlsym(RTLD_DEFAULT, function));
    if (get == nullptr) return {};
    const char* text = get();
    std::string out = text != nullptr ? text : "";
    while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
    return out;
}

constexpr const char* kDetectedVariable = "DEEPSTACK_OPENBLAS_DETECTED";
// Set by choose_blas_kernels() when it set OPENBLAS_CORETYPE itself (so that it is not taken for the user's).
constexpr const char* kChosenVariable = "DEEPSTACK_OPENBLAS_CHOSEN";

}  // namespace

std::string better_blas_kernels(const CpuInfo& cpu, const std::string& running) {
    const char* best = nullptr;
    if (cpu.has("avx512f") && cpu.has("avx512bw") && cpu.has("avx512vl") && cpu.has("avx512dq") && cpu.has("avx512cd")) best = "SkylakeX";
    else if (cpu.has("avx2") && cpu.has("fma")) best = "Haswell";
    return best != nullptr && kernel_rank(best) > kernel_rank(running) ? best : "";
}

namespace {
std::atomic<std::uint64_t> pretended_available_memory{0};  // 0: read the machine's
}  // namespace

std::uint64_t available_memory_bytes() {
    if (const auto pretended = pretended_available_memory.load()) return pretended;
    return proc_kib_field("/proc/meminfo", "MemAvailable:");
}

ScopedAvailableMemory::ScopedAvailableMemory(std::uint64_t bytes) : previous_(pretended_available_memory.exchange(bytes)) {}
ScopedAvailableMemory::~ScopedAvailableMemory() { pretended_available_memory.store(previous_); }
std::uint64_t peak_rss_bytes() { return proc_kib_field("/proc/self/status", "VmHWM:"); }
std::uint64_t resident_memory_bytes() { return proc_kib_field("/proc/self/status", "VmRSS:"); }

void keep_freed_memory_for_reuse() {
#if defined(__GLIBC__)
    // Blocks under 32 MB (glibc's largest fixed threshold) come from the heap rather than their own mapping, and the
    // heap is not trimmed below 1 GB nor grown by less than 256 MB: the buffers a step frees serve the next.
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 256 << 20);
#endif
}

bool CpuInfo::has(const std::string& feature) const { return std::find(features.begin(), features.end(), feature) != features.end(); }

CpuInfo cpu_info() {
    CpuInfo info;
    info.model = cpuinfo_field("model name");
    cpu_set_t set;
    CPU_ZERO(&set);
    info.cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
    std::istringstream flags(cpuinfo_field("flags"));
    std::vector<std::string> present;
    for (std::string flag; flags >> flag;) present.push_back(flag);
    for (const char* wanted : {"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd", "avx512_bf16",
                               "avx512_vnni", "avx_vnni", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8"})
        if (std::find(present.begin(), present.end(), wanted) != present.end()) info.features.emplace_back(wanted);
    return info;
}

BlasInfo blas_info() {
    BlasInfo info;
    info.library = openblas_text("openblas_get_config");
    info.kernels = openblas_text("openblas_get_corename");
    if (info.kernels.empty()) return info;
    if (const char* detected = std::getenv(kDetectedVariable)) info.detected = detected;
    const char* forced = std::getenv("OPENBLAS_CORETYPE");
    if (forced != nullptr && std::getenv(kChosenVariable) == nullptr) info.forced = forced;
    info.possible = better_blas_kernels(cpu_info(), info.kernels);
    return info;
}

void choose_blas_kernels(char** argv) {
    if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
    const auto chosen = openblas_text("openblas_get_corename");
    if (chosen.empty()) return;
    const auto best = better_blas_kernels(cpu_info(), chosen);
    if (best.empty()) return;
    setenv("OPENBLAS_CORETYPE", best.c_str(), 1);
    setenv(kDetectedVariable, chosen.c_str(), 1);
    setenv(kChosenVariable, best.c_str(), 1);
    execv("/proc/self/exe", argv);
    // Still here: the program could not be started again; it goes on with the kernels it has.
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv(kDetectedVariable);
    unsetenv(kChosenVariable);
}

std::string describe_cpu_and_blas() {
    const auto cpu = cpu_info();
    std::string out = (cpu.model.empty() ? std::string("unknown CPU") : cpu.model) + ", " + std::to_string(cpu.cores) + " cores (";
    for (std::size_t i = 0; i < cpu.features.size(); ++i) out += (i > 0 ? " " : "") + cpu.features[i];
    out += ")";
    const auto blas = blas_info();
    if (!blas.kernels.empty()) {
        out += "; BLAS: " + blas.library + ", " + blas.kernels + " kernels";
        if (!blas.detected.empty()) out += " (it detected " + blas.detected + ")";
        if (!blas.forced.empty()) out += " (OPENBLAS_CORETYPE=" + blas.forced + ")";
        if (!blas.possible.empty()) out += "; this CPU could run " + blas.possible + " kernels";
    }
    return out;
}

}  // namespace deepstack

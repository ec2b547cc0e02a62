#include "deepstack/system.h"

#include <fstream>
#include <limits>
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
}  // namespace

std::uint64_t available_memory_bytes() { return proc_kib_field("/proc/meminfo", "MemAvailable:"); }
std::uint64_t peak_rss_bytes() { return proc_kib_field("/proc/self/status", "VmHWM:"); }
std::uint64_t resident_memory_bytes() { return proc_kib_field("/proc/self/status", "VmRSS:"); }

}  // namespace deepstack

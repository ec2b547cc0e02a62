// Facts about the machine the core runs on, read from the operating system.
#pragma once

#include <cstdint>

namespace deepstack {

std::uint64_t available_memory_bytes();  // MemAvailable; 0 when unknown
std::uint64_t peak_rss_bytes();          // this process's peak resident set (VmHWM); 0 when unknown
std::uint64_t resident_memory_bytes();   // this process's resident set now (VmRSS); 0 when unknown

}  // namespace deepstack

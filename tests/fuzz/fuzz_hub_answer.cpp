// The Hub's model API answer: file list, sizes, blob ids, LFS sha256, paths that must stay inside the cache.
#include <string>

#include "deepstack/error.h"
#include "hub/hub_answer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        (void)deepstack::parse_hub_repository("org/name", std::string(reinterpret_cast<const char*>(data), size), "fuzz input");
    } catch (const deepstack::Error&) {
    }
    return 0;
}

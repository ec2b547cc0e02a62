// safetensors headers and their data ranges: SafetensorsFile::open, every view, and a folder's Checkpoint.
#include "deepstack/error.h"
#include "deepstack/safetensors.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto path = deepstack::fuzz::input_file(data, size, "model.safetensors");
    try {
        const auto file = deepstack::SafetensorsFile::open(path);
        std::uint64_t sum = 0;
        for (const auto& info : file.tensors()) {
            const auto view = file.view(info.name);
            if (view.nbytes() > 0) sum += static_cast<std::uint8_t>(view.data[view.nbytes() - 1]);
        }
        (void)deepstack::Checkpoint::open(path.parent_path());
        return static_cast<int>(sum & 0);
    } catch (const deepstack::Error&) {
    }
    return 0;
}

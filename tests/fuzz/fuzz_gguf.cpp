// GGUF files: the header, metadata and tensor directory, each tensor's bytes; then what the core makes of a valid
// file: its vocabulary as a tokenizer.json and its metadata as a Qwen3-VL config (the file as its own mmproj).
#include "deepstack/error.h"
#include "deepstack/gguf.h"
#include "fuzz_input.h"
#include "models/qwen3_vl/gguf.h"
#include "tokenizer/gguf_vocabulary.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto path = deepstack::fuzz::input_file(data, size, "model.gguf");
    try {
        const auto file = deepstack::GgufFile::open(path);
        std::uint64_t sum = 0;
        for (const auto& tensor : file.tensors()) {
            const auto bytes = file.data(tensor);
            if (!bytes.empty()) sum += bytes.back();
        }
        try {
            (void)deepstack::tokenizer::tokenizer_json_from_gguf(file);
            (void)deepstack::tokenizer::tokenizer_config_from_gguf(file);
        } catch (const deepstack::Error&) {
        }
        try {
            (void)deepstack::qwen3_vl::config_from_gguf(file, &file);
        } catch (const deepstack::Error&) {
        }
        return static_cast<int>(sum & 0);
    } catch (const deepstack::Error&) {
    }
    return 0;
}

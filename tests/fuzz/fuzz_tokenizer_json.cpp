// tokenizer.json: the byte-level BPE reader, then an encode and decode with whatever it built.
#include "deepstack/error.h"
#include "fuzz_input.h"
#include "tokenizer/byte_level_bpe.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto path = deepstack::fuzz::input_file(data, size, "tokenizer.json");
    try {
        const auto tokenizer = deepstack::tokenizer::ByteLevelBpe::load(path);
        const auto ids = tokenizer->encode("Hello <|im_start|>user\nwörld 1234 😀 'll\r\n  ");
        (void)tokenizer->decode(ids, false);
    } catch (const deepstack::Error&) {
    }
    return 0;
}

// The BPE encoder on arbitrary bytes as text (invalid UTF-8 included), with a Qwen3 tokenizer: encode, decode.
#include <memory>
#include <string>

#include "deepstack/error.h"
#include "tokenizer/byte_level_bpe.h"

namespace {
std::unique_ptr<deepstack::tokenizer::ByteLevelBpe> tokenizer;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    tokenizer = deepstack::tokenizer::ByteLevelBpe::load(DEEPSTACK_FUZZ_TOKENIZER_JSON);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto ids = tokenizer->encode(std::string(reinterpret_cast<const char*>(data), size));
        (void)tokenizer->decode(ids, false);
    } catch (const deepstack::Error&) {
    }
    return 0;
}

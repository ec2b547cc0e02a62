// sentencepiece .model files (protobuf read by hand): the reader, then an encode and decode.
#include "deepstack/error.h"
#include "fuzz_input.h"
#include "tokenizer/sentencepiece_bpe.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto path = deepstack::fuzz::input_file(data, size, "tokenizer.model");
    try {
        const auto tokenizer = deepstack::tokenizer::SentencePieceBpe::load(path);
        const auto ids = tokenizer->encode("What is the total? Ünïcödé 1234 \n  x");
        (void)tokenizer->decode(ids, false);
    } catch (const deepstack::Error&) {
    }
    return 0;
}

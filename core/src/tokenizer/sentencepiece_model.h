// A sentencepiece `tokenizer.model` file, read without libsentencepiece.
//
// Why our own reader: Debian's libsentencepiece carries a private copy of protobuf whose symbols are exported and
// collide with the libprotobuf that LibTorch loads; a process with both crashes at start-up. The file is a small
// protobuf (ModelProto); reading its wire format directly is short and removes the dependency.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace deepstack::tokenizer {

struct SentencePieceModel {
    enum class PieceType : int { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };
    enum class ModelType : int { unigram = 1, bpe = 2, word = 3, character = 4 };

    struct Piece {
        std::string text;
        float score = 0.0f;
        PieceType type = PieceType::normal;
    };

    std::vector<Piece> pieces;  // index = token id
    ModelType model_type = ModelType::unigram;
    std::int32_t unk_id = 0;
    std::int32_t bos_id = 1;
    std::int32_t eos_id = 2;
    std::int32_t pad_id = -1;
    bool byte_fallback = false;
    // Normalizer
    std::string normalizer_name;
    bool has_precompiled_charsmap = false;
    bool add_dummy_prefix = true;
    bool remove_extra_whitespaces = true;
    bool escape_whitespaces = true;
};

// Throws deepstack::Error(format) naming the file and the byte offset on a malformed file.
SentencePieceModel read_sentencepiece_model(const std::filesystem::path& file);
SentencePieceModel parse_sentencepiece_model(const std::string& bytes, const std::string& file_for_errors);

}  // namespace deepstack::tokenizer

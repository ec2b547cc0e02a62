#include "tokenizer/sentencepiece_model.h"

#include <cstring>
#include <fstream>

#include "deepstack/error.h"

namespace deepstack::tokenizer {

namespace {

// The protobuf wire format, as much as ModelProto needs: varints, fixed32, length-delimited fields.
class WireReader {
public:
    WireReader(const std::string& bytes, std::size_t begin, std::size_t end, const std::string& file)
        : bytes_(bytes), pos_(begin), end_(end), file_(file) {}

    bool at_end() const { return pos_ >= end_; }
    std::size_t position() const { return pos_; }

    std::uint64_t varint() {
        std::uint64_t value = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos_ >= end_) fail("varint runs past the end");
            const auto byte = static_cast<std::uint8_t>(bytes_[pos_++]);
            value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
            if ((byte & 0x80) == 0) return value;
        }
        fail("varint longer than 10 bytes");
    }

    float fixed32_float() {
        if (end_ - pos_ < 4) fail("fixed32 runs past the end");
        std::uint32_t bits = 0;
        for (int i = 0; i < 4; ++i) bits |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(bytes_[pos_ + i])) << (8 * i);
        pos_ += 4;
        float value = 0;
        std::memcpy(&value, &bits, 4);
        return value;
    }

    // The [begin, end) range of a length-delimited field's payload; advances past it.
    std::pair<std::size_t, std::size_t> delimited() {
        const auto length = varint();
        if (length > end_ - pos_) fail("a field of " + std::to_string(length) + " bytes runs past the end");
        const auto begin = pos_;
        pos_ += length;
        return {begin, pos_};
    }

    void skip(std::uint32_t wire_type) {
        switch (wire_type) {
            case 0: (void)varint(); return;
            case 1: advance(8); return;
            case 2: (void)delimited(); return;
            case 5: advance(4); return;
            default: fail("unknown wire type " + std::to_string(wire_type));
        }
    }

    [[noreturn]] void fail(const std::string& what) const {
        throw Error(ErrorKind::format, file_, "not a sentencepiece model (byte " + std::to_string(pos_) + ": " + what + ")");
    }

private:
    void advance(std::size_t n) {
        if (end_ - pos_ < n) fail("field runs past the end");
        pos_ += n;
    }

    const std::string& bytes_;
    std::size_t pos_;
    std::size_t end_;
    const std::string& file_;
};

SentencePieceModel::Piece read_piece(WireReader& r, const std::string& bytes, const std::string& file) {
    const auto [begin, end] = r.delimited();
    WireReader p(bytes, begin, end, file);
    SentencePieceModel::Piece piece;
    while (!p.at_end()) {
        const auto tag = p.varint();
        const auto field = tag >> 3;
        const auto wire = static_cast<std::uint32_t>(tag & 7);
        if (field == 1 && wire == 2) {
            const auto [b, e] = p.delimited();
            piece.text = bytes.substr(b, e - b);
        } else if (field == 2 && wire == 5) {
            piece.score = p.fixed32_float();
        } else if (field == 3 && wire == 0) {
            const auto type = p.varint();
            if (type < 1 || type > 6) p.fail("piece type " + std::to_string(type) + " is unknown");
            piece.type = static_cast<SentencePieceModel::PieceType>(type);
        } else {
            p.skip(wire);
        }
    }
    return piece;
}

void read_trainer_spec(WireReader& r, const std::string& bytes, const std::string& file, SentencePieceModel& m) {
    const auto [begin, end] = r.delimited();
    WireReader t(bytes, begin, end, file);
    while (!t.at_end()) {
        const auto tag = t.varint();
        const auto field = tag >> 3;
        const auto wire = static_cast<std::uint32_t>(tag & 7);
        if (wire != 0) {
            t.skip(wire);
            continue;
        }
        const auto value = t.varint();
        const auto as_int = static_cast<std::int32_t>(static_cast<std::uint32_t>(value));  // int32 fields, two's complement
        switch (field) {
            case 3: m.model_type = static_cast<SentencePieceModel::ModelType>(value); break;
            case 35: m.byte_fallback = value != 0; break;
            case 40: m.unk_id = as_int; break;
            case 41: m.bos_id = as_int; break;
            case 42: m.eos_id = as_int; break;
            case 43: m.pad_id = as_int; break;
            default: break;
        }
    }
}

void read_normalizer_spec(WireReader& r, const std::string& bytes, const std::string& file, SentencePieceModel& m) {
    const auto [begin, end] = r.delimited();
    WireReader n(bytes, begin, end, file);
    while (!n.at_end()) {
        const auto tag = n.varint();
        const auto field = tag >> 3;
        const auto wire = static_cast<std::uint32_t>(tag & 7);
        if (field == 1 && wire == 2) {
            const auto [b, e] = n.delimited();
            m.normalizer_name = bytes.substr(b, e - b);
        } else if (field == 2 && wire == 2) {
            const auto [b, e] = n.delimited();
            m.has_precompiled_charsmap = e > b;
        } else if (wire == 0 && (field == 3 || field == 4 || field == 5)) {
            const bool value = n.varint() != 0;
            if (field == 3) m.add_dummy_prefix = value;
            if (field == 4) m.remove_extra_whitespaces = value;
            if (field == 5) m.escape_whitespaces = value;
        } else {
            n.skip(wire);
        }
    }
}

}  // namespace

SentencePieceModel parse_sentencepiece_model(const std::string& bytes, const std::string& file) {
    SentencePieceModel m;
    WireReader r(bytes, 0, bytes.size(), file);
    while (!r.at_end()) {
        const auto tag = r.varint();
        const auto field = tag >> 3;
        const auto wire = static_cast<std::uint32_t>(tag & 7);
        if (field == 1 && wire == 2) m.pieces.push_back(read_piece(r, bytes, file));
        else if (field == 2 && wire == 2) read_trainer_spec(r, bytes, file, m);
        else if (field == 3 && wire == 2) read_normalizer_spec(r, bytes, file, m);
        else r.skip(wire);
    }
    if (m.pieces.empty()) throw Error(ErrorKind::format, file, "not a sentencepiece model: it holds no pieces");
    const auto count = static_cast<std::int32_t>(m.pieces.size());
    for (const auto& [name, id] : {std::pair{"unk_id", m.unk_id}, std::pair{"bos_id", m.bos_id}, std::pair{"eos_id", m.eos_id},
                                  std::pair{"pad_id", m.pad_id}})
        if (id >= count)
            throw Error(ErrorKind::format, file, std::string(name) + " " + std::to_string(id) + " is outside the " +
                                                     std::to_string(count) + " pieces");
    return m;
}

SentencePieceModel read_sentencepiece_model(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw Error(ErrorKind::io, file.string(), "cannot open");
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    return parse_sentencepiece_model(bytes, file.string());
}

}  // namespace deepstack::tokenizer

// Our reader of tokenizer.model against libsentencepiece itself (this test links the library; the product does
// not, see tokenizer/sentencepiece_model.h), and truncated or foreign files giving a clear error.
#include <QtTest>

#include <sentencepiece_processor.h>

#include "deepstack/error.h"
#include "test_files.h"
#include "tokenizer/sentencepiece_model.h"

using namespace deepstack;
using deepstack::tokenizer::SentencePieceModel;

class TestSentencePieceModel : public QObject {
    Q_OBJECT
    const std::filesystem::path model_path_ = testing::data_dir() / "tokenizers" / "tiny-llama-sp.model";

private Q_SLOTS:
    void matchesTheLibrary() {
        sentencepiece::SentencePieceProcessor reference;
        QVERIFY(reference.Load(model_path_.string()).ok());
        const auto model = tokenizer::read_sentencepiece_model(model_path_);
        QCOMPARE(static_cast<int>(model.pieces.size()), reference.GetPieceSize());
        for (int id = 0; id < reference.GetPieceSize(); ++id) {
            const auto& piece = model.pieces[static_cast<std::size_t>(id)];
            QCOMPARE(piece.text, reference.IdToPiece(id));
            QCOMPARE(piece.score, reference.GetScore(id));
            QCOMPARE(piece.type == SentencePieceModel::PieceType::control, reference.IsControl(id));
            QCOMPARE(piece.type == SentencePieceModel::PieceType::unknown, reference.IsUnknown(id));
            QCOMPARE(piece.type == SentencePieceModel::PieceType::byte, reference.IsByte(id));
        }
        QCOMPARE(model.unk_id, reference.unk_id());
        QCOMPARE(model.bos_id, reference.bos_id());
        QCOMPARE(model.eos_id, reference.eos_id());
        QCOMPARE(model.pad_id, reference.pad_id());
        QCOMPARE(model.model_type, SentencePieceModel::ModelType::bpe);
        QVERIFY(model.byte_fallback);
        QCOMPARE(model.normalizer_name, std::string("identity"));
        QVERIFY(model.add_dummy_prefix);
    }

    void brokenFiles() {
        const auto bytes = testing::read_file(model_path_);
        for (const std::size_t cut : {bytes.size() / 2, std::size_t{7}, bytes.size() - 3}) {
            try {
                (void)tokenizer::parse_sentencepiece_model(bytes.substr(0, cut), "cut.model");
                QFAIL("a truncated model was accepted");
            } catch (const Error& e) {
                QCOMPARE(e.kind(), ErrorKind::format);
                QVERIFY2(std::string(e.what()).find("cut.model: not a sentencepiece model") == 0, e.what());
            }
        }
        try {
            (void)tokenizer::parse_sentencepiece_model("{\"model\": {\"type\": \"BPE\"}}", "json.model");
            QFAIL("a JSON file was accepted as a sentencepiece model");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("json.model: not a sentencepiece model") == 0, e.what());
        }
    }
};

QTEST_GUILESS_MAIN(TestSentencePieceModel)
#include "test_sentencepiece_model.moc"

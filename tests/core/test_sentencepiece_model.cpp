// Our reader and encoder of tokenizer.model against libsentencepiece itself (this test links the library; the
// product does not, see tokenizer/sentencepiece_model.h), and truncated or foreign files giving a clear error.
#include <QtTest>
#include "test_main.h"

#include <sentencepiece_processor.h>

#include "deepstack/error.h"
#include "test_files.h"
#include "tokenizer/sentencepiece_bpe.h"
#include "tokenizer/sentencepiece_model.h"

#include <random>

namespace test_sentencepiece_model {

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

    void encodesLikeTheLibrary_data() {
        QTest::addColumn<QString>("text");
        QTest::newRow("words") << "the invoice total number 12345";
        QTest::newRow("leading and repeated spaces") << "  what is   the  date  ";
        QTest::newRow("newlines and tabs") << "table\n\nred\tblue\r\n";
        QTest::newRow("latin accents") << "Größe der Rechnung: prix à payer, naïve café";
        QTest::newRow("cyrillic") << "сумма счёта: 1 024,50 ₽";
        QTest::newRow("cjk") << "合計金額は？ 請求書の日付";
        QTest::newRow("arabic") << "الفاتورة رقم ٤٥";
        QTest::newRow("emoji") << "red circle 🔴 and 👩‍👩‍👧 family";
        QTest::newRow("code") << "for (int i = 0; i < n; ++i) { total += a[i]; }";
        QTest::newRow("digits") << "0123456789 3.14159 -42";
        QTest::newRow("only spaces") << "     ";
        QTest::newRow("empty") << "";
        QTest::newRow("image prompt tail") << "\nWhat is the total? ASSISTANT:";
    }
    void encodesLikeTheLibrary() {
        QFETCH(QString, text);
        sentencepiece::SentencePieceProcessor reference;
        QVERIFY(reference.Load(model_path_.string()).ok());
        const auto ours = tokenizer::SentencePieceBpe::load(model_path_);
        const auto utf8 = text.toStdString();
        std::vector<int> expected;
        QVERIFY(reference.Encode(utf8, &expected).ok());
        const auto ids = ours->encode(utf8);
        QCOMPARE(std::vector<int>(ids.begin(), ids.end()), expected);
        std::string expected_text;
        QVERIFY(reference.Decode(expected, &expected_text).ok());
        QCOMPARE(ours->decode(ids, true), expected_text);
    }

    // Random mixes of the pieces' own characters, spaces and multi-byte characters outside the vocabulary.
    void randomTextsEncodeLikeTheLibrary() {
        sentencepiece::SentencePieceProcessor reference;
        QVERIFY(reference.Load(model_path_.string()).ok());
        const auto ours = tokenizer::SentencePieceBpe::load(model_path_);
        const std::vector<std::string> atoms{"the", "in", "voice", " ", "  ", "a", "t", "e", "12", "7", "\n", "é", "ö", "合",
                                             "計", "ال", "сч", "🔴", "x", "Q", ".", ",", "▁", "<", ">", "\t"};
        std::mt19937 rng(7);
        for (int round = 0; round < 300; ++round) {
            std::string text;
            const int length = static_cast<int>(rng() % 24);
            for (int i = 0; i < length; ++i) text += atoms[rng() % atoms.size()];
            std::vector<int> expected;
            QVERIFY(reference.Encode(text, &expected).ok());
            const auto ids = ours->encode(text);
            QVERIFY2(std::vector<int>(ids.begin(), ids.end()) == expected, text.c_str());
        }
    }

    // Control pieces written in the text become their ids and the stretches between are encoded on their own, as
    // transformers' slow LlamaTokenizer does (the vicuna_v1 template writes "</s>" between turns).
    void controlPiecesSplitTheText() {
        const auto ours = tokenizer::SentencePieceBpe::load(model_path_);
        auto expected = ours->encode("A total");
        expected.push_back(2);
        const auto tail = ours->encode("USER: red");
        expected.insert(expected.end(), tail.begin(), tail.end());
        QCOMPARE(ours->encode("A total</s>USER: red"), expected);
        QCOMPARE(ours->token_id("</s>"), std::optional<TokenId>(2));
        QVERIFY(ours->is_special(2));
        QCOMPARE(ours->decode(ours->encode("the total"), true), std::string("the total"));
    }

    void brokenFiles() {
        const auto bytes = testing::read_file(model_path_);
        // Inside the first piece, and inside the normaliser spec at the end (a cut between two pieces would leave a
        // valid, shorter model).
        for (const std::size_t cut : {std::size_t{7}, bytes.size() - 10, bytes.size() - 3}) {
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

DEEPSTACK_TEST_GUILESS_MAIN(TestSentencePieceModel)

}  // namespace test_sentencepiece_model
#include "test_sentencepiece_model.moc"

// The byte-level BPE tokenizer against Hugging Face `tokenizers` on the real Qwen3 tokenizer: the ids of every
// fixture text (tests/reference/make_tokenizer_fixtures.py), decoding, streaming that never splits a character.
#include <QTemporaryDir>
#include <QtTest>
#include "test_main.h"

#include <numeric>

#include <nlohmann/json.hpp>

#include "deepstack/error.h"
#include "deepstack/tokenizer.h"
#include "test_files.h"
#include "tokenizer/byte_level_bpe.h"
#include "tokenizer/unicode.h"

namespace test_bpe_tokenizer {

using namespace deepstack;

namespace {

std::string show(const std::vector<TokenId>& ids) {
    std::string s;
    for (const auto id : ids) s += std::to_string(id) + " ";
    return s;
}
}  // namespace

class TestBpeTokenizer : public QObject {
    Q_OBJECT
    std::unique_ptr<Tokenizer> qwen_;
    nlohmann::json fixtures_;

private Q_SLOTS:
    // Found by fuzz_tokenizer_json: a model without its vocab threw nlohmann's out_of_range past every handler.
    void aModelWithoutVocabIsAnErrorNamingIt() {
        const auto input = testing::data_dir().parent_path() / "fuzz" / "corpus" / "tokenizer_json" / "regression-model-without-vocab.json";
        try {
            (void)tokenizer::ByteLevelBpe::load(input);
            QFAIL("a tokenizer.json without a vocab was loaded");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("vocab") != std::string::npos, e.what());
        }
    }

    // Found by fuzz_tokenizer_json: an added token's negative id indexed the token table before its start, and an id
    // near 2^31 asked for a table of two billion strings. Ids are bounded, and the error names the field.
    void tokenIdsOutOfRangeAreErrorsNamingThem() {
        const auto input = testing::data_dir().parent_path() / "fuzz" / "corpus" / "tokenizer_json" / "regression-negative-added-id.json";
        auto json = nlohmann::json::parse(testing::read_file(input));
        QTemporaryDir dir;
        const std::filesystem::path folder = dir.path().toStdString();
        const auto refused = [&](const nlohmann::json& tokenizer, const std::string& expected) {
            testing::write_file(folder / "tokenizer.json", tokenizer.dump());
            try {
                (void)tokenizer::ByteLevelBpe::load(folder / "tokenizer.json");
                QFAIL(("accepted: " + tokenizer.dump()).c_str());
            } catch (const Error& e) {
                QCOMPARE(e.kind(), ErrorKind::config);
                QVERIFY2(std::string(e.what()).find(expected) != std::string::npos, e.what());
            }
        };
        refused(json, "added_tokens.id");
        json["added_tokens"][0]["id"] = 2147483000;
        refused(json, "added_tokens.id");
        json["added_tokens"] = nlohmann::json::array();
        json["model"]["vocab"]["b"] = 2147483000;
        refused(json, "token 'b' has the id 2147483000, expected 0..16777215");
    }

    void initTestCase() {
        qwen_ = Tokenizer::load(testing::qwen3_tokenizer_dir());
        fixtures_ = nlohmann::json::parse(testing::read_file(testing::data_dir() / "fixtures" / "qwen3_tokenizer.json"));
    }

    void vocabulary() {
        QCOMPARE(qwen_->size(), std::int64_t{151669});
        QCOMPARE(*qwen_->token_id("<|image_pad|>"), TokenId{151655});
        QCOMPARE(*qwen_->token_id("<|im_start|>"), TokenId{151644});
        QVERIFY(qwen_->is_special(151645));
        QVERIFY(!qwen_->is_special(151668));  // </think> is an added token, not a special one
        QVERIFY(!qwen_->token_id("<|no such token|>").has_value());
    }

    void matchesTheReference() {
        int compared = 0;
        for (const auto& c : fixtures_.at("cases")) {
            const auto text = c.at("text").get<std::string>();
            const auto expected = c.at("ids").get<std::vector<TokenId>>();
            const auto ids = qwen_->encode(text);
            if (ids != expected)
                QFAIL(("text " + nlohmann::json(text).dump() + "\n   ours: " + show(ids) + "\n   reference: " + show(expected)).c_str());
            QCOMPARE(qwen_->decode(ids), c.at("decoded").get<std::string>());
            ++compared;
        }
        QVERIFY(compared >= 200);
    }

    void streamingNeverSplitsACharacter() {
        for (const auto& c : fixtures_.at("cases")) {
            const auto ids = c.at("ids").get<std::vector<TokenId>>();
            StreamingDecoder stream(*qwen_, /*skip_special=*/false);
            std::string streamed;
            for (const auto id : ids) {
                const auto piece = stream.push(id);
                QCOMPARE(tokenizer::sanitize_utf8(piece), piece);  // every piece is whole UTF-8 on its own
                streamed += piece;
            }
            streamed += stream.finish();
            QCOMPARE(streamed, c.at("decoded").get<std::string>());
        }
    }

    void emojiArrivesInOnePiece() {
        const auto ids = qwen_->encode("👨‍👩‍👧");
        QVERIFY(ids.size() > 3);  // byte-level tokens cut the emoji inside its UTF-8 bytes
        StreamingDecoder stream(*qwen_);
        std::vector<std::string> pieces;
        for (const auto id : ids)
            if (auto piece = stream.push(id); !piece.empty()) pieces.push_back(piece);
        QCOMPARE(std::accumulate(pieces.begin(), pieces.end(), std::string()), std::string("👨‍👩‍👧"));
        QVERIFY(stream.finish().empty());
    }

    void skipSpecialWhenDecoding() {
        const auto ids = qwen_->encode("<|im_start|>user\nHi<|im_end|>");
        QCOMPARE(qwen_->decode(ids, /*skip_special=*/true), std::string("user\nHi"));
    }

    void invalidUtf8BecomesReplacementCharacters() {
        const std::string broken = "ok \xff\xfe end \xe2\x82";
        QCOMPARE(qwen_->decode(qwen_->encode(broken)), std::string("ok \xEF\xBF\xBD\xEF\xBF\xBD end \xEF\xBF\xBD"));
    }

    void completeUtf8Prefix_data() {
        QTest::addColumn<std::string>("bytes");
        QTest::addColumn<int>("complete");
        QTest::newRow("ascii") << std::string("abc") << 3;
        QTest::newRow("whole 2-byte") << std::string("a\xc3\xa9") << 3;
        QTest::newRow("cut 2-byte") << std::string("a\xc3") << 1;
        QTest::newRow("cut 4-byte after 1") << std::string("a\xf0") << 1;
        QTest::newRow("cut 4-byte after 3") << std::string("a\xf0\x9f\x98") << 1;
        QTest::newRow("whole 4-byte") << std::string("a\xf0\x9f\x98\x80") << 5;
        QTest::newRow("empty") << std::string() << 0;
    }
    void completeUtf8Prefix() {
        QFETCH(std::string, bytes);
        QFETCH(int, complete);
        QCOMPARE(complete_utf8_prefix(bytes), static_cast<std::size_t>(complete));
    }

    void brokenTokenizerFiles() {
        QTemporaryDir dir;
        const std::filesystem::path folder = dir.path().toStdString();
        testing::write_file(folder / "tokenizer.json", R"({"model": {"type": "Unigram", "vocab": []}, "pre_tokenizer": {"type": "ByteLevel"}})");
        try {
            (void)Tokenizer::load(folder);
            QFAIL("a Unigram tokenizer.json was accepted");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("tokenizer.json: model.type: only BPE models are supported") != std::string::npos, e.what());
        }
        testing::write_file(folder / "tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}})");
        try {
            (void)Tokenizer::load(folder);
            QFAIL("a vocabulary without the 256 byte symbols was accepted");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("lacks the symbol of byte 0") != std::string::npos, e.what());
        }
        std::filesystem::remove(folder / "tokenizer.json");
        try {
            (void)Tokenizer::load(folder);
            QFAIL("an empty folder gave a tokenizer");
        } catch (const Error& e) {
            QCOMPARE(e.kind(), ErrorKind::io);
        }
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestBpeTokenizer)

}  // namespace test_bpe_tokenizer
#include "test_bpe_tokenizer.moc"

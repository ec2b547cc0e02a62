// Conversations survive as JSON: every field round-trips, a reply cut by a crash reads back as interrupted,
// a damaged file is reported and left alone, and writes are atomic.
#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

#include "chat/ConversationStore.h"
#include "ui_test_files.h"

using namespace deepstack::ui;

namespace {
ChatConversation sample() {
    auto c = ChatConversation::create("Answer in one line.", {0.7, 0.8, 20, 256, 18446744073709551557ull});
    c.title = "Invoice total";
    ChatMessage question;
    question.role = ChatMessage::Role::user;
    question.text = "What is the total?";
    question.time = QDateTime::currentDateTime();
    question.attachments = {{"/docs/invoice.pdf", 1}, {"/photos/receipt.jpg", 0}};
    question.renderDpi = 200;
    ChatMessage answer;
    answer.role = ChatMessage::Role::assistant;
    answer.text = "**20.50 EUR** — see the last line.";
    answer.stopReason = "end_of_turn";
    answer.timings = {12.5, 80.25, 95.0, 31.5, 640, 576, 9};
    answer.tokens = {1, 2, 3, 151645};
    answer.tokensModel = "/models/demo";
    c.messages = {question, answer};
    return c;
}
}  // namespace

class TestConversationStore : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

private Q_SLOTS:
    void everyFieldRoundTrips() {
        const ConversationStore store(dir_.filePath("roundtrip"));
        const auto c = sample();
        QString error;
        QVERIFY2(store.save(c, &error), qPrintable(error));
        const auto all = store.loadAll();
        QCOMPARE(all.size(), 1);
        const auto& back = all.front();
        QCOMPARE(back.id, c.id);
        QCOMPARE(back.title, c.title);
        QCOMPARE(back.systemPrompt, c.systemPrompt);
        QVERIFY(back.sampling == c.sampling);  // the 64-bit seed included
        QCOMPARE(back.messages.size(), 2);
        QCOMPARE(back.messages[0].attachments, c.messages[0].attachments);
        QCOMPARE(back.messages[0].renderDpi, 200);
        QCOMPARE(back.messages[1].text, c.messages[1].text);
        QCOMPARE(back.messages[1].tokens, c.messages[1].tokens);
        QCOMPARE(back.messages[1].tokensModel, c.messages[1].tokensModel);
        QCOMPARE(back.messages[1].timings.prefillMs, 80.25);
        QCOMPARE(back.messages[1].timings.imageTokens, qint64{576});
        QCOMPARE(toString(back.messages[1].state), toString(ChatMessage::State::complete));
        QCOMPARE(back.created, c.created);
        QCOMPARE(back.exchanges(), 1);
    }

    void aReplyCutByACrashReadsAsInterrupted() {
        const ConversationStore store(dir_.filePath("crash"));
        auto c = sample();
        c.messages[1].state = ChatMessage::State::streaming;
        QVERIFY(store.save(c));
        QCOMPARE(toString(store.loadAll().front().messages[1].state), toString(ChatMessage::State::interrupted));
    }

    void mostRecentFirst() {
        const ConversationStore store(dir_.filePath("order"));
        auto older = sample();
        older.updated = QDateTime::currentDateTime().addDays(-1);
        auto newer = sample();
        newer.id = "b-newer";
        QVERIFY(store.save(older) && store.save(newer));
        const auto all = store.loadAll();
        QCOMPARE(all.size(), 2);
        QCOMPARE(all.front().id, QString("b-newer"));
    }

    void damagedFilesAreReportedAndLeftAlone() {
        const ConversationStore store(dir_.filePath("damaged"));
        QVERIFY(store.save(sample()));
        deepstack::testing::writeBytes(store.folder() + "/broken.json", "{\"format\": \"deepstack-studio-conv");
        deepstack::testing::writeBytes(store.folder() + "/other.json", "{\"format\": \"something else\"}");
        QStringList problems;
        QCOMPARE(store.loadAll(&problems).size(), 1);
        QCOMPARE(problems.size(), 2);
        QVERIFY2(problems.join("|").contains("broken.json: not valid JSON"), qPrintable(problems.join("|")));
        QVERIFY2(problems.join("|").contains("other.json: not a DeepStack Studio conversation"), qPrintable(problems.join("|")));
        QVERIFY(QFile::exists(store.folder() + "/broken.json"));  // the user's file is not deleted
    }

    void writesLeaveNoPartialFiles() {
        const ConversationStore store(dir_.filePath("atomic"));
        auto c = sample();
        for (int i = 0; i < 20; ++i) {
            c.messages[1].text += " more";
            QVERIFY(store.save(c));
        }
        QCOMPARE(QDir(store.folder()).entryList(QDir::Files), QStringList{c.id + ".json"});
        QVERIFY(store.remove(c.id));
        QVERIFY(store.loadAll().isEmpty());
    }

    void unwritableFolderIsAnError() {
        deepstack::testing::writeBytes(dir_.filePath("a-file"), "x");
        const ConversationStore store(dir_.filePath("a-file") + "/conversations");
        QString error;
        QVERIFY(!store.save(sample(), &error));
        QVERIFY2(error.contains("cannot create the folder"), qPrintable(error));
    }
};

QTEST_MAIN(TestConversationStore)
#include "test_conversation_store.moc"

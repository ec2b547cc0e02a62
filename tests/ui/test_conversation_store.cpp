// Conversations survive as JSON: every field round-trips, a reply cut by a crash reads back as interrupted,
// a damaged file is reported and left alone, and writes are atomic.
#include <QDir>
#include <QTemporaryDir>
#include <QtTest>
#include "test_main.h"

#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>

#include "chat/ChatController.h"
#include "chat/ConversationExport.h"
#include "chat/ConversationStore.h"
#include "inference/InferenceService.h"
#include "ui_test_files.h"
#include "workspace/WorkspaceModel.h"

namespace test_conversation_store {

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
    // Exported as JSON and imported again (through the chat, which gives it a new id and keeps it): the same
    // conversation, field for field. A file that is not one says so, naming it.
    void jsonExportImportsToTheSameConversation() {
        const auto original = sample();
        QString error;
        const auto file = dir_.filePath("exported.json");
        QVERIFY2(exportJson(original, file, &error), qPrintable(error));
        const auto back = importConversation(file, &error);
        QVERIFY2(back.has_value(), qPrintable(error));
        QCOMPARE(QJsonDocument(back->toJson()).toJson(), QJsonDocument(original.toJson()).toJson());

        InferenceService service;
        WorkspaceModel workspace;
        ChatController chat(service, workspace, ConversationStore(dir_.filePath("imported")));
        chat.restore();
        QVERIFY2(chat.importConversation(file, &error), qPrintable(error));
        QVERIFY(chat.current().id != original.id);
        QCOMPARE(chat.current().messages.size(), original.messages.size());
        QCOMPARE(chat.current().messages[1].tokens, original.messages[1].tokens);
        QCOMPARE(chat.current().messages[0].attachments, original.messages[0].attachments);
        QCOMPARE(QDir(dir_.filePath("imported")).entryList({"*.json"}).size(), 1);  // saved at once

        deepstack::testing::writeBytes(dir_.filePath("notes.json"), "{\"hello\": ");
        QVERIFY(!importConversation(dir_.filePath("notes.json"), &error));
        QVERIFY2(error.contains("notes.json is not a conversation"), qPrintable(error));
        QVERIFY(!chat.importConversation(dir_.filePath("missing.json"), &error));
        QVERIFY2(error.contains("cannot be read"), qPrintable(error));
    }

    // Markdown: the questions and answers in order, each question's pages as PNG files beside it (as the model saw
    // them), and a page whose document is not open named instead.
    void markdownExportWithItsPages() {
        const auto pdf = dir_.filePath("invoice.pdf");
        deepstack::testing::writePdf(pdf, 2);
        WorkspaceModel workspace;
        QString error;
        QVERIFY(workspace.openFile(pdf, &error) >= 0);
        auto c = sample();
        c.messages[0].attachments = {{QFileInfo(pdf).absoluteFilePath(), 1}, {"/photos/receipt.jpg", 0}};
        c.messages[0].renderDpi = 72;
        const auto file = dir_.filePath("chat.md");
        QVERIFY2(exportMarkdown(c, workspace, file, &error), qPrintable(error));
        QFile md(file);
        QVERIFY(md.open(QIODevice::ReadOnly));
        const auto text = QString::fromUtf8(md.readAll());
        QVERIFY(text.startsWith("# Invoice total"));
        QVERIFY(text.indexOf("What is the total?") < text.indexOf("**20.50 EUR**"));
        QVERIFY2(text.contains("![invoice.pdf p. 2](chat-pages/page-01.png)"), qPrintable(text));
        QVERIFY2(text.contains("*receipt.jpg (not open when this was exported)*"), qPrintable(text));
        QVERIFY(text.contains("9 tokens, first token 95 ms"));
        QVERIFY(!text.contains("vision reused"));
        {
            auto again = c;  // an answer whose pictures the model had just encoded says so, as in the chat
            again.messages[1].timings.visionReused = true;
            QVERIFY2(exportMarkdown(again, workspace, dir_.filePath("again.md"), &error), qPrintable(error));
            QFile reused(dir_.filePath("again.md"));
            QVERIFY(reused.open(QIODevice::ReadOnly));
            QVERIFY(QString::fromUtf8(reused.readAll()).contains("image tokens* *(vision reused)*"));
        }
        const QImage page(dir_.filePath("chat-pages/page-01.png"));
        QCOMPARE(page.size(), workspace.renderForModel({QFileInfo(pdf).absoluteFilePath(), 1}, 72, &error).size());
        QVERIFY(!exportMarkdown(c, workspace, file + "/inside-a-file.md", &error));  // a folder that cannot exist
        QVERIFY2(error.contains("could not be"), qPrintable(error));
    }

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

    // Numbers from a file that would reach the renderer or the sampler are bounded (fuzz_conversation), and pages
    // are read for questions only: an answer with pages in the file read them back in and never wrote them out
    // (the fuzzer's first find).
    void outOfRangeNumbersAreRefusedAndPagesBelongToQuestions() {
        const auto base = sample().toJson();
        const auto withMessage = [&](int index, const QString& key, const QJsonValue& value) {
            auto json = base;
            auto messages = json["messages"].toArray();
            auto message = messages[index].toObject();
            message[key] = value;
            messages[index] = message;
            json["messages"] = messages;
            return json;
        };
        const auto withSampling = [&](const QString& key, const QJsonValue& value) {
            auto json = base;
            auto sampling = json["sampling"].toObject();
            sampling[key] = value;
            json["sampling"] = sampling;
            return json;
        };
        QString why;
        QVERIFY(ChatConversation::fromJson(base, &why));
        for (const auto& [json, expected] : std::vector<std::pair<QJsonObject, QString>>{
                 {withMessage(0, "render_dpi", 100000), "100000 DPI"},
                 {withMessage(0, "attachments", QJsonArray{QJsonObject{{"path", "/docs/a.pdf"}, {"page", -3}}}), "page -3"},
                 {withSampling("max_tokens", 0), "0 tokens"},
                 {withSampling("top_p", 2.5), "top-p 2.5"},
                 {withSampling("temperature", -1), "temperature -1"}}) {
            why.clear();
            QVERIFY2(!ChatConversation::fromJson(json, &why), qPrintable(expected));
            QVERIFY2(why.contains(expected), qPrintable(why));
        }
        const auto answerWithPages = withMessage(1, "attachments", QJsonArray{QJsonObject{{"path", "/docs/a.pdf"}, {"page", 0}}});
        const auto read = ChatConversation::fromJson(answerWithPages, &why);
        QVERIFY(read);
        QVERIFY(read->messages[1].attachments.isEmpty());
        QCOMPARE(ChatConversation::fromJson(read->toJson(), &why)->messages[1].attachments, read->messages[1].attachments);
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

DEEPSTACK_TEST_MAIN(TestConversationStore)

}  // namespace test_conversation_store
#include "test_conversation_store.moc"

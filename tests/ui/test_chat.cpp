// The chat end to end on a tiny DeepStack-L model: a question about a PDF page streams into the view and is
// saved; follow-ups reuse the worker's cache; Stop ends within a step; Regenerate and Edit ask again; a
// conversation restored in a new session continues exactly as the live one; a process killed mid-answer loses
// neither the question nor the answer so far; bad input gives a message and changes nothing.
#include <QElapsedTimer>
#include <QPainter>
#include <QPdfWriter>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>
#include "test_main.h"

#include "chat/ChatController.h"
#include "chat/ChatView.h"
#include "inference/InferenceService.h"
#include "inference/InferenceWorker.h"
#include "ui_test_files.h"
#include "workspace/WorkspaceModel.h"

namespace test_chat {

using namespace deepstack::ui;
using namespace deepstack::testing;

namespace {
constexpr int kLoadTimeoutMs = 120000;
constexpr int kAnswerTimeoutMs = 120000;

bool loadModel(InferenceService& service, const QString& folder = deepStackModelFolder()) {
    QSignalSpy loaded(&service, &InferenceService::modelLoaded);
    QSignalSpy failed(&service, &InferenceService::modelLoadFailed);
    LoadRequest request;
    request.folder = folder;
    request.contextTokens = 1024;
    service.loadModel(request);
    return QTest::qWaitFor([&] { return loaded.count() + failed.count() > 0; }, kLoadTimeoutMs) && loaded.count() == 1;
}

bool waitIdle(ChatController& chat) { return QTest::qWaitFor([&] { return !chat.isBusy(); }, kAnswerTimeoutMs); }

SamplingOptions greedy(int tokens) {
    SamplingOptions s;
    s.maxTokens = tokens;
    return s;
}

// The child of killedMidAnswerLosesNothing: asks a long question with every piece saved, until killed.
int runChildThatGetsKilled(const QString& storeFolder, const QString& pdf) {
    InferenceService service;
    WorkspaceModel workspace;
    ChatController chat(service, workspace, ConversationStore(storeFolder));
    chat.setStreamingSaveInterval(0);
    if (!loadModel(service)) return 2;
    QString error;
    if (workspace.openFile(pdf, &error) < 0) return 3;
    workspace.setAttached(workspace.pageAt(1), true);
    chat.setSampling({1.0, 1.0, 0, 900, 5});  // sampled: long answers
    if (!chat.send("Tell me everything about page 2.")) return 4;
    QTest::qWait(600000);  // the parent kills us long before
    return 5;
}
}  // namespace

class TestChat : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QString pdf_;

private Q_SLOTS:
    void initTestCase() {
        pdf_ = dir_.filePath("invoice.pdf");
        writePdf(pdf_, 3);
    }

    void askAboutAPageStreamStopRegenerateEdit() {
        InferenceService service;
        WorkspaceModel workspace;
        ChatController chat(service, workspace, ConversationStore(dir_.filePath("live")));
        chat.restore();
        ChatView view;
        QObject::connect(&chat, &ChatController::messagesReset, &view, [&] { view.showConversation(chat.current(), chat.canRegenerate()); });
        QObject::connect(&chat, &ChatController::messageChanged, &view, [&](int i) { view.updateMessage(chat.current(), i, chat.canRegenerate()); });
        QVERIFY(loadModel(service));

        QString error;
        QCOMPARE(workspace.openFile(pdf_, &error), 0);
        workspace.setAttached(workspace.pageAt(1), true);
        chat.setSampling(greedy(12));
        QSignalSpy pieces(&chat, &ChatController::messageChanged);
        QVERIFY(chat.send("What is on page 2?"));
        QVERIFY(chat.isBusy());
        QVERIFY(workspace.attachedPages().isEmpty());  // the ticks went with the question
        QVERIFY(waitIdle(chat));
        QVERIFY(pieces.count() >= 2);  // streamed, then finished

        const auto& first = chat.current();
        QCOMPARE(first.messages.size(), 2);
        QCOMPARE(first.messages[0].attachments, (QList<PageRef>{{QFileInfo(pdf_).absoluteFilePath(), 1}}));
        const auto& answer = first.messages[1];
        QCOMPARE(toString(answer.state), toString(ChatMessage::State::complete));
        QVERIFY(!answer.text.isEmpty());
        QVERIFY(answer.timings.imageTokens > 0);
        QVERIFY(answer.tokens.size() <= 12);
        QVERIFY2(view.toPlainText().contains(answer.text.trimmed().left(8)), qPrintable(view.toPlainText()));
        // Redrawing the streaming message piece by piece left the same document as drawing it once.
        const auto streamedBlocks = view.document()->blockCount();
        view.showConversation(chat.current(), chat.canRegenerate());
        QCOMPARE(view.document()->blockCount(), streamedBlocks);
        // On disk already.
        const auto saved = ConversationStore(dir_.filePath("live")).loadAll();
        QCOMPARE(saved.size(), 1);
        QCOMPARE(saved.front().messages[1].text, answer.text);

        // A follow-up: the worker holds the first exchange, so only the new question runs.
        QVERIFY(chat.send("And the date?"));
        QVERIFY(waitIdle(chat));
        const auto second = chat.current().messages[3];
        QVERIFY(second.timings.promptTokens < 40);
        QCOMPARE(second.timings.imageTokens, qint64{0});

        // Regenerate (greedy): the same answer again, from the cache rewound to the question.
        chat.regenerate();
        QVERIFY(waitIdle(chat));
        QCOMPARE(chat.current().messages.size(), 4);
        QCOMPARE(chat.current().messages[3].tokens, second.tokens);

        // Stop mid-answer: within a step of the request. Seed 7's sampled answer runs 569 tokens when left alone
        // (seed 3's ran 18, which a polled stop sometimes missed: the tiny model decodes a token in about a
        // millisecond), and stop is asked the moment the first text arrives.
        chat.setSampling({1.0, 1.0, 0, 900, 7});
        const auto stopAtFirstText = connect(&chat, &ChatController::messageChanged, &chat, [&chat](int) {
            if (chat.isBusy() && !chat.current().messages.back().text.isEmpty()) chat.stop();
        });
        QVERIFY(chat.send("Write a long story."));
        QVERIFY(waitIdle(chat));
        disconnect(stopAtFirstText);
        const auto stopped = chat.current().messages.back();
        QCOMPARE(toString(stopped.state), toString(ChatMessage::State::stopped));
        QCOMPARE(stopped.stopReason, QString("cancelled"));
        QVERIFY2(stopped.tokens.size() < 400, qPrintable(QString::number(stopped.tokens.size())));  // well before 569

        // Edit the last question: it is replaced and answered again; the earlier exchanges stay.
        chat.setSampling(greedy(6));
        QVERIFY(chat.canEditLastQuestion());
        chat.editLastQuestion("Write a short poem.");
        QVERIFY(waitIdle(chat));
        QCOMPARE(chat.current().messages.size(), 6);
        QCOMPARE(chat.current().messages[4].text, QString("Write a short poem."));
        QCOMPARE(toString(chat.current().messages[5].state), toString(ChatMessage::State::complete));
    }

    // The GUI thread stays free while a question about a 300-DPI page is rendered, sent and answered into the view:
    // a 5 ms timer on the GUI thread records the longest gap between its ticks, from Send to the answer's end.
    void theGuiThreadStaysFreeWhileAnswering() {
        InferenceService service;
        WorkspaceModel workspace;
        ChatController chat(service, workspace, ConversationStore(dir_.filePath("stall")));
        ChatView view;
        QObject::connect(&chat, &ChatController::messagesReset, &view, [&] { view.showConversation(chat.current(), chat.canRegenerate()); });
        QObject::connect(&chat, &ChatController::messageChanged, &view, [&](int i) { view.updateMessage(chat.current(), i, chat.canRegenerate()); });
        QVERIFY(loadModel(service));
        // Pages as dense as a printed statement: 90 lines of small print over a table's rules and shading (QtPdf
        // renders one at 300 DPI in about 60 ms here, the plain test pages in 30). Three are asked about at once.
        const auto dense = dir_.filePath("statement.pdf");
        {
            QPdfWriter writer(dense);
            writer.setPageSize(QPageSize(QPageSize::A4));
            writer.setResolution(72);
            QPainter painter(&writer);
            for (int page = 0; page < 3; ++page) {
                if (page > 0) writer.newPage();
                for (int row = 0; row < 90; ++row) {
                    painter.fillRect(QRectF(30, 30 + row * 8.6, 535, 4.3), QColor(230, 236, 245));
                    for (int column = 0; column < 8; ++column) painter.drawLine(QPointF(30 + column * 67, 30 + row * 8.6), QPointF(30 + column * 67, 38 + row * 8.6));
                }
                QFont font = painter.font();
                font.setPointSizeF(6.5);
                painter.setFont(font);
                for (int row = 0; row < 90; ++row)
                    painter.drawText(QPointF(32, 37 + row * 8.6), QString("%1  2026-11-%2  Invoice INV-%3  Transfer to account 00%4  EUR %5.%6  balance %7.%8")
                                                                    .arg(row + 1).arg(row % 28 + 1).arg(31000 + row * 7).arg(row * 913).arg(row * 37 % 9000)
                                                                    .arg(row % 100, 2, 10, QChar('0')).arg(row * 1291 % 90000).arg(row * 7 % 100, 2, 10, QChar('0')));
            }
        }
        QString error;
        QCOMPARE(workspace.openFile(dense, &error), 0);
        chat.setRenderDpi(300);
        chat.setSampling(greedy(48));
        qint64 longest = 0, ticks = 0;
        QElapsedTimer clock;
        QTimer timer;
        timer.setInterval(5);
        QObject::connect(&timer, &QTimer::timeout, &timer, [&] {
            longest = std::max(longest, clock.restart());
            ++ticks;
        });
        for (int page = 0; page < 3; ++page) workspace.setAttached(workspace.pageAt(page), true);
        clock.start();
        timer.start();
        QVERIFY(chat.send("What is on these pages?"));
        QVERIFY(waitIdle(chat));
        QTest::qWait(20);
        timer.stop();
        QCOMPARE(chat.current().messages.back().timings.imageTokens > 0, true);
        qInfo("the longest GUI-thread gap: %lld ms over %lld ticks", longest, ticks);
        // Measured 13-14 ms (one page) and the pages rendered here instead: about 180 ms. The bound leaves room for
        // a machine shared with other suites; the README's limits give the measured figure.
        QVERIFY2(longest < 100, qPrintable(QString("the GUI thread stalled for %1 ms").arg(longest)));
    }

    // A long answer streamed a few characters at a time is drawn as it would be at once, and each finished
    // paragraph is rendered once: the renderer sees the answer once plus the unfinished paragraph at each step,
    // not the whole answer again at every token (which grew with the square of its length).
    void aStreamedAnswerRendersEachFinishedParagraphOnce() {
        QString answer;
        for (int p = 0; p < 40; ++p) {
            if (p % 4 == 0)
                answer += QString("## Part %1\n\nInvoice **%1** lists `item %1` at 12.50 EUR, due 2026-12-%2.\n\n").arg(p).arg(p % 28 + 1);
            if (p % 4 == 1) answer += "- first point\n- second point\n  continued on a second line\n\n";
            if (p % 4 == 2) answer += "```\nint x = 1;\n\n  int y = 2;\n```\n\n";  // a blank line inside a fence
            if (p % 4 == 3) answer += "1. one\n2. two\n\n";
        }
        constexpr int kLongestParagraph = 100;
        for (const auto& piece : answer.split("\n\n")) QVERIFY(piece.size() < kLongestParagraph);

        ChatConversation conversation;
        ChatMessage question;
        question.text = "Summarise the page.";
        ChatMessage reply;
        reply.role = ChatMessage::Role::assistant;
        reply.state = ChatMessage::State::streaming;
        conversation.messages = {question, reply};
        ChatView streamed;
        streamed.showConversation(conversation, true);
        const auto before = streamed.markdownCharactersRendered();
        int steps = 0;
        for (int at = 3; at < answer.size() + 3; at += 3, ++steps) {
            conversation.messages[1].text = answer.left(at);
            streamed.updateMessage(conversation, 1, true);
        }
        ChatView whole;
        whole.showConversation(conversation, true);
        QCOMPARE(streamed.toPlainText(), whole.toPlainText());
        const auto rendered = streamed.markdownCharactersRendered() - before;
        QVERIFY2(rendered <= answer.size() + qint64{steps} * kLongestParagraph,
                 qPrintable(QString("%1 characters rendered for an answer of %2 in %3 steps").arg(rendered).arg(answer.size()).arg(steps)));

        conversation.messages[1].state = ChatMessage::State::complete;  // finished: drawn whole, with its links
        streamed.updateMessage(conversation, 1, true);
        whole.showConversation(conversation, true);
        QCOMPARE(streamed.toHtml(), whole.toHtml());

        // Regenerate: a new answer streams into the same place, starting with the same words.
        conversation.messages[1].state = ChatMessage::State::streaming;
        for (int at = 5; at < 400; at += 5) {
            conversation.messages[1].text = answer.left(at);
            streamed.updateMessage(conversation, 1, true);
        }
        whole.showConversation(conversation, true);
        QCOMPARE(streamed.toPlainText(), whole.toPlainText());
    }

    // Requests carry a kind: an answer's Stop ends the answer and leaves a model load queued behind it alone
    // (it was cancelled with it before).
    void stoppingAnAnswerLeavesAQueuedLoadAlone() {
        InferenceService service;
        WorkspaceModel workspace;
        ChatController chat(service, workspace, ConversationStore(dir_.filePath("kinds")));
        QVERIFY(loadModel(service));
        chat.setSampling({1.0, 1.0, 0, 900, 7});  // seed 7 runs 569 tokens when left alone
        QSignalSpy loaded(&service, &InferenceService::modelLoaded);
        QSignalSpy failed(&service, &InferenceService::modelLoadFailed);
        QVERIFY(chat.send("Write a long story."));
        LoadRequest again;
        again.folder = deepStackModelFolder();
        again.contextTokens = 1024;
        const auto load = service.loadModel(again);
        QVERIFY(load > 0);
        chat.stop();
        QVERIFY(waitIdle(chat));
        QVERIFY(QTest::qWaitFor([&] { return loaded.count() + failed.count() > 0; }, kLoadTimeoutMs));
        QCOMPARE(failed.count(), 0);
        QCOMPARE(loaded.count(), 1);
        QCOMPARE(toString(chat.current().messages.back().state), toString(ChatMessage::State::stopped));
    }

    void restoredConversationContinuesAsTheLiveOne() {
        QString error;
        const auto ask = [&](ChatController& chat, WorkspaceModel& workspace) {
            workspace.openFile(pdf_, &error);
            workspace.setAttached(workspace.pageAt(1), true);
            chat.setSampling(greedy(8));
            return chat.send("What is on page 2?") && waitIdle(chat);
        };
        // Live: two questions in one session.
        QList<qint32> liveSecond;
        {
            InferenceService service;
            WorkspaceModel workspace;
            ChatController chat(service, workspace, ConversationStore(dir_.filePath("reference")));
            chat.restore();
            QVERIFY(loadModel(service));
            QVERIFY(ask(chat, workspace));
            QVERIFY(chat.send("Say more.") && waitIdle(chat));
            liveSecond = chat.current().messages[3].tokens;
        }
        // Restored: the first question in one session, the second after a restart.
        {
            InferenceService service;
            WorkspaceModel workspace;
            ChatController chat(service, workspace, ConversationStore(dir_.filePath("restored")));
            chat.restore();
            QVERIFY(loadModel(service));
            QVERIFY(ask(chat, workspace));
        }
        InferenceService service;
        WorkspaceModel workspace;  // empty: the page is read from the file again
        ChatController chat(service, workspace, ConversationStore(dir_.filePath("restored")));
        chat.restore();
        QCOMPARE(chat.current().messages.size(), 2);
        QVERIFY(loadModel(service));
        QVERIFY(chat.send("Say more.") && waitIdle(chat));
        QCOMPARE(toString(chat.current().messages[3].state), toString(ChatMessage::State::complete));
        QCOMPARE(chat.current().messages[3].tokens, liveSecond);
    }

    void killedMidAnswerLosesNothing() {
        const auto storeFolder = dir_.filePath("killed");
        QProcess child;
        child.setProcessChannelMode(QProcess::ForwardedChannels);
        child.start(QCoreApplication::applicationFilePath(),
                    {deepstack::testing::running_suite(), "--child-that-gets-killed", storeFolder, pdf_});
        QVERIFY(child.waitForStarted());
        // Wait until the answer is on disk half written, then kill without warning.
        const ConversationStore store(storeFolder);
        const bool streaming = QTest::qWaitFor([&] {
            const auto all = store.loadAll();
            return !all.isEmpty() && all.front().messages.size() == 2 && all.front().messages[1].text.size() > 20;
        }, kLoadTimeoutMs);
        child.kill();
        child.waitForFinished();
        QVERIFY2(streaming, "the child never wrote a partial answer");
        QCOMPARE(child.exitStatus(), QProcess::CrashExit);

        InferenceService service;
        WorkspaceModel workspace;
        ChatController chat(service, workspace, ConversationStore(storeFolder));
        chat.restore();
        const auto& c = chat.current();
        QCOMPARE(c.messages.size(), 2);
        QCOMPARE(c.messages[0].text, QString("Tell me everything about page 2."));
        QCOMPARE(c.messages[0].attachments.size(), 1);
        QCOMPARE(toString(c.messages[1].state), toString(ChatMessage::State::interrupted));
        QVERIFY(c.messages[1].text.size() > 20);
    }

    void badInputGivesAMessageAndChangesNothing() {
        InferenceService service;
        WorkspaceModel workspace;
        ChatController chat(service, workspace, ConversationStore(dir_.filePath("bad")));
        chat.restore();
        QSignalSpy errors(&chat, &ChatController::errorOccurred);

        QVERIFY(!chat.send("Hello?"));  // no model
        QCOMPARE(errors.count(), 1);
        QVERIFY(errors.last().first().toString().contains("Load a model first"));
        QVERIFY(chat.current().messages.isEmpty());

        // A broken model folder: the load fails with the core's reason, naming the file.
        QTemporaryDir broken;
        QFile::copy(deepStackModelFolder() + "/config.json", broken.filePath("config.json"));
        QFile::copy(deepStackModelFolder() + "/tokenizer.model", broken.filePath("tokenizer.model"));
        QFile weights(deepStackModelFolder() + "/model.safetensors");
        QVERIFY(weights.open(QIODevice::ReadOnly));
        writeBytes(broken.filePath("model.safetensors"), weights.read(weights.size() / 2));  // truncated
        QSignalSpy failed(&service, &InferenceService::modelLoadFailed);
        QVERIFY(!loadModel(service, broken.path()));
        QCOMPARE(failed.count(), 1);
        QVERIFY2(failed.first().first().toString().contains("model.safetensors"), qPrintable(failed.first().first().toString()));

        // A ticked page whose document is closed is no longer attached, and ticking it then changes nothing.
        QVERIFY(loadModel(service));
        const auto closing = dir_.filePath("closing.pdf");
        writePdf(closing, 1);
        QString error;
        QVERIFY(workspace.openFile(closing, &error) >= 0);
        workspace.setAttached(workspace.pageAt(0), true);
        workspace.closeDocument(QFileInfo(closing).absoluteFilePath());
        QVERIFY(workspace.attachedPages().isEmpty());
        workspace.setAttached({QFileInfo(closing).absoluteFilePath(), 0}, true);  // not open: no-op
        QVERIFY(workspace.attachedPages().isEmpty());

        // A ticked page whose file is deleted from the disk before the question: the document is open, so the
        // page is still read (from memory) and the question answered with it; nothing is refused or lost.
        const auto doomed = dir_.filePath("doomed.pdf");
        writePdf(doomed, 1);
        QVERIFY(workspace.openFile(doomed, &error) >= 0);
        workspace.setAttached({QFileInfo(doomed).absoluteFilePath(), 0}, true);
        QCOMPARE(workspace.attachedPages().size(), 1);
        QVERIFY(QFile::remove(doomed));
        const auto errorsBefore = errors.count();
        // A short answer: 512 greedy tokens of the random model took over 120 s once while other suites shared
        // the two cores (each process's OpenMP threads wait on the others' at every layer).
        chat.setSampling(greedy(8));
        QVERIFY(chat.send("What is on this page?") && waitIdle(chat));
        QCOMPARE(errors.count(), errorsBefore);
        const auto& asked = chat.current().messages;
        QCOMPARE(asked.size(), 2);
        QCOMPARE(asked[0].attachments.size(), 1);
        QVERIFY2(!asked[1].text.isEmpty(), "no answer");
        workspace.closeDocument(QFileInfo(doomed).absoluteFilePath());
    }

    // A cancelled load is reported as cancelled (nothing to show the user), not as a failure: the worker is
    // given a load whose cancel token is already set, so the outcome does not depend on timing.
    void cancelledLoadIsReportedAsCancelled() {
        InferenceWorker worker;
        QSignalSpy failed(&worker, &InferenceWorker::loadFailed);
        QSignalSpy loaded(&worker, &InferenceWorker::loaded);
        LoadRequest request;
        request.folder = deepStackModelFolder();
        worker.load(request, std::make_shared<std::atomic<bool>>(true));
        QCOMPARE(loaded.count(), 0);
        QCOMPARE(failed.count(), 1);
        QCOMPARE(failed.first().at(1).toBool(), true);
        // And the same request without the cancel loads.
        worker.load(request, std::make_shared<std::atomic<bool>>(false));
        QCOMPARE(loaded.count(), 1);
    }
};

int runSuite(int argc, char** argv) {
    QApplication app(argc, argv);
    if (argc == 4 && QString(argv[1]) == "--child-that-gets-killed") return runChildThatGetsKilled(argv[2], argv[3]);
    TestChat test;
    return QTest::qExec(&test, argc, argv);
}

DEEPSTACK_TEST_CUSTOM_MAIN(runSuite)

}  // namespace test_chat

#include "test_chat.moc"

// Record and replay: a session with the tiny DeepStack-L model (two questions, one about a page, an answer sampled
// long enough to stream, the attention of the last answer recorded) is recorded to one file; a window with no
// model at all plays it back: the same questions and answers, each piece at its recorded time (within 5 % of the
// answer's time, or 50 ms), the same heatmap in the Attention tab, and a bar saying it is a recording. A damaged
// file is refused with its name. Set DEEPSTACK_SCREENSHOT_DIR to keep a picture of the replay.
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QListView>
#include <QPlainTextEdit>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>
#include "test_main.h"

#include "MainWindow.h"
#include "attention/AttentionPanel.h"
#include "chat/ChatController.h"
#include "chat/ChatPanel.h"
#include "chat/ChatView.h"
#include "demo/Recording.h"
#include "demo/ReplayBar.h"
#include "inference/InferenceService.h"
#include "ui_test_files.h"

namespace test_demo_replay {

using deepstack::ui::MainWindow;

class TestDemoReplay : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { deepstack::testing::startWithNoSavedState("test_demo_replay"); }

    void recordOnOneMachineReplayWithoutTheModel() {
        QTemporaryDir dir;
        const auto pdf = dir.filePath("invoice.pdf");
        deepstack::testing::writePdf(pdf, 2);
        const auto file = dir.filePath("demo.dsrec");
        QStringList answers;
        QImage recordedHeatmap;
        {
            MainWindow window;
            window.resize(1280, 820);
            window.show();
            window.openFiles({pdf});
            window.loadModel(deepstack::testing::deepStackModelFolder());
            QTRY_VERIFY_WITH_TIMEOUT(window.inference().model().has_value(), 120000);
            QTRY_VERIFY_WITH_TIMEOUT(!window.inference().isBusy(), 120000);  // the first load measures the model's speed
            auto& chat = window.chat();
            chat.newConversation();
            auto sampling = chat.current().sampling;
            sampling.maxTokens = 48;
            sampling.temperature = 1.0;  // a varied answer of many pieces
            sampling.seed = 5;
            chat.setSampling(sampling);
            window.startRecording();
            QVERIFY(window.isRecording());
            auto* input = window.findChild<QPlainTextEdit*>("questionInput");
            const auto ask = [&](const QString& question) {
                input->setPlainText(question);
                QTest::keyClick(input, Qt::Key_Return, Qt::ControlModifier);
                QTRY_VERIFY_WITH_TIMEOUT(!chat.isBusy(), 120000);
                answers << chat.current().messages.back().text;
            };
            ask("Hello?");
            auto* pages = window.findChild<QListView*>("pageList");
            pages->model()->setData(pages->model()->index(1, 0), Qt::Checked, Qt::CheckStateRole);
            ask("What is the total?");
            QSignalSpy captured(&window.inference(), &deepstack::ui::InferenceService::attentionCaptured);
            Q_EMIT window.chatPanel().view()->anchorClicked(QUrl("chat:attention"));
            QTRY_COMPARE_WITH_TIMEOUT(captured.count(), 1, 60000);
            recordedHeatmap = window.attention().heatmap();
            QString error;
            QVERIFY2(window.stopRecording(file, &error), qPrintable(error));
            QVERIFY(!window.isRecording());
        }
        QString error;
        const auto recording = deepstack::ui::loadRecording(file, &error);
        QVERIFY2(recording.has_value(), qPrintable(error));
        QCOMPARE(recording->exchanges.size(), 2);
        QCOMPARE(recording->pages.size(), 1);
        QVERIFY(recording->exchanges[0].pages.isEmpty());
        QCOMPARE(recording->exchanges[1].pages, QList<int>{0});
        QVERIFY(recording->exchanges[1].attention != nullptr);
        QVERIFY(recording->exchanges[1].pieces.size() > 5);
        QVERIFY(recording->model.contains("DeepStack-L"));

        // Another window, no model: the recording plays.
        MainWindow window;
        window.resize(1280, 820);
        window.show();
        QVERIFY(!window.inference().model().has_value());
        auto& replay = window.replay();
        QSignalSpy finished(&replay, &deepstack::ui::ReplayBar::finished);
        QVERIFY2(window.openRecording(file, &error), qPrintable(error));
        QVERIFY(replay.isVisible());
        QVERIFY(replay.bannerText().contains("Replaying a recording"));
        QVERIFY(replay.bannerText().contains("not a live model"));
        QVERIFY2(replay.bannerText().contains("2 exchanges."), qPrintable(replay.bannerText()));
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 60000);
        const auto& shown = replay.shown();
        QCOMPARE(shown.messages.size(), 4);
        QCOMPARE(shown.messages[1].text, answers[0]);
        QCOMPARE(shown.messages[3].text, answers[1]);
        QCOMPARE(shown.messages[2].attachments.size(), 1);
        QCOMPARE(shown.messages[3].timings.generatedTokens, recording->exchanges[1].timings.generatedTokens);
        QVERIFY(recording->exchanges[1].timings.generatedTokens > 0);
        QVERIFY(!recording->exchanges[1].stopReason.isEmpty());
        QVERIFY(window.chatPanel().view()->toPlainText().contains("What is the total?"));
        // Each piece when it was recorded.
        for (int e = 0; e < 2; ++e) {
            const auto& recorded = recording->exchanges[e];
            const auto& at = replay.shownAt()[e];
            QCOMPARE(at.size(), recorded.pieces.size());
            const auto tolerance = std::max(50.0, 0.05 * recorded.totalMs);
            for (int i = 0; i < at.size(); ++i)
                QVERIFY2(std::abs(at[i] - recorded.pieces[i].atMs) <= tolerance,
                         qPrintable(QString("exchange %1 piece %2 at %3 ms, recorded at %4 ms").arg(e).arg(i).arg(at[i]).arg(recorded.pieces[i].atMs)));
        }
        // The recorded attention, drawn as it was.
        QVERIFY(window.attention().capture() != nullptr);
        QCOMPARE(window.attention().heatmap(), recordedHeatmap);
        if (const auto shots = qEnvironmentVariable("DEEPSTACK_SCREENSHOT_DIR"); !shots.isEmpty()) window.grab().save(shots + "/replay.png");
        QVERIFY(!window.inference().model().has_value());

        // Faster: the same answers in a quarter of the time.
        replay.setSpeed(4.0);
        QVERIFY2(window.openRecording(file, &error), qPrintable(error));
        QElapsedTimer clock;
        clock.start();
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, 60000);
        QCOMPARE(replay.shown().messages[3].text, answers[1]);
        QVERIFY(replay.shownAt()[1].last() >= recording->exchanges[1].pieces.last().atMs - 50);  // in recorded time

        // A damaged file says so, naming it.
        deepstack::testing::writeBytes(dir.filePath("broken.dsrec"), "{\"format\": \"deepstack-studio-recording\", \"version\": 1, \"pages\": [{\"png\": \"AAAA\"}]}");
        QVERIFY(!window.openRecording(dir.filePath("broken.dsrec"), &error));
        QVERIFY2(error.contains("broken.dsrec is damaged"), qPrintable(error));
        // A recording whose attention numbers were cut short would make the views read past them: refused.
        {
            QFile in(file);
            QVERIFY(in.open(QIODevice::ReadOnly));
            auto json = QJsonDocument::fromJson(in.readAll()).object();
            auto exchanges = json["exchanges"].toArray();
            auto second = exchanges[1].toObject();
            auto attention = second["attention"].toObject();
            attention["visual"] = QString("AAAA");
            second["attention"] = attention;
            exchanges[1] = second;
            json["exchanges"] = exchanges;
            deepstack::testing::writeBytes(dir.filePath("cut.dsrec"), QJsonDocument(json).toJson());
        }
        QVERIFY(!window.openRecording(dir.filePath("cut.dsrec"), &error));
        QVERIFY2(error.contains("cut.dsrec is damaged: its attention numbers do not match their shape"), qPrintable(error));
        deepstack::testing::writeBytes(dir.filePath("notes.dsrec"), "hello");
        QVERIFY(!window.openRecording(dir.filePath("notes.dsrec"), &error));
        QVERIFY2(error.contains("is not a DeepStack Studio recording"), qPrintable(error));
    }
};

DEEPSTACK_TEST_MAIN(TestDemoReplay)

}  // namespace test_demo_replay
#include "test_demo_replay.moc"

// Two models, one question, on the tiny DeepStack-L model and its twin without stacks: the twin is made from A's
// folder (linked, not copied) and loads as B; Ask Both runs A then B on the ticked page; A's answer is the one the
// chat gives to the same question (and the chat goes on after the comparison used its worker); both report their
// image tokens; what cannot be asked says why. Set DEEPSTACK_SCREENSHOT_DIR to keep a picture of the window.
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QListView>
#include <QPlainTextEdit>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTextBrowser>
#include <QtTest>
#include "test_main.h"

#include "MainWindow.h"
#include "chat/ChatController.h"
#include "chat/ChatPanel.h"
#include "compare/ComparePanel.h"
#include "inference/InferenceService.h"
#include "inference/SpeedRecords.h"
#include "ui_test_files.h"
#include "workspace/WorkspaceModel.h"

namespace test_compare_panel {

using deepstack::ui::ComparePanel;
using deepstack::ui::MainWindow;

class TestComparePanel : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { deepstack::testing::startWithNoSavedState("test_compare_panel"); }

    void theTwinIsLinkedAndSaysWhyWhenItCannotBe() {
        QString error;
        const auto twin = ComparePanel::twinWithoutStacks(deepstack::testing::deepStackModelFolder(), &error);
        QVERIFY2(!twin.isEmpty(), qPrintable(error));
        QFile config(QDir(twin).filePath("config.json"));
        QVERIFY(config.open(QIODevice::ReadOnly));
        QCOMPARE(QJsonDocument::fromJson(config.readAll()).object().value("deepstack_args_for_ablation").toString(), QString("nostack"));
        QVERIFY(QFileInfo(QDir(twin).filePath("model.safetensors")).isSymLink());
        QCOMPARE(ComparePanel::twinWithoutStacks(deepstack::testing::deepStackModelFolder(), &error), twin);  // made again, same place

        QTemporaryDir qwen;
        deepstack::testing::writeBytes(qwen.filePath("config.json"), R"({"model_type": "qwen3_vl"})");
        QVERIFY(ComparePanel::twinWithoutStacks(qwen.path(), &error).isEmpty());
        QVERIFY2(error.contains("Only a DeepStack-L model"), qPrintable(error));
        QVERIFY(ComparePanel::twinWithoutStacks(qwen.filePath("missing"), &error).isEmpty());
        QVERIFY2(error.contains("cannot be read"), qPrintable(error));
    }

    void askBothModelsTheSameQuestion() {
        QTemporaryDir dir;
        const auto pdf = dir.filePath("invoice.pdf");
        deepstack::testing::writePdf(pdf, 2);
        MainWindow window;
        const auto notReady = deepstack::testing::showWithTinyDeepStack(window, pdf);
        QVERIFY2(notReady.isEmpty(), qPrintable(notReady));
        auto& chat = window.chat();
        auto sampling = chat.current().sampling;
        sampling.maxTokens = 6;
        chat.setSampling(sampling);
        auto& compare = window.compare();
        window.findChild<QTabWidget*>("leftTabs")->setCurrentWidget(&compare);

        QVERIFY(!compare.askBoth("What is the total?"));
        QVERIFY(compare.statusText().contains("second model"));
        QSignalSpy bAnswered(&compare.second(), &deepstack::ui::InferenceService::generationFinished);
        compare.loadTwinOfA();
        QTRY_VERIFY_WITH_TIMEOUT(compare.second().model().has_value(), 120000);
        QVERIFY(compare.second().model()->folder.contains("nostack"));
        // B makes an untimed first pass of its own, as A did when it was loaded, so that neither's first answer in
        // a comparison pays for setting up its kernels.
        QTRY_COMPARE_WITH_TIMEOUT(bAnswered.count(), 1, 120000);
        QVERIFY(bAnswered.front().front().value<deepstack::ui::GenerateResult>().conversationId.startsWith("compare-warm-up:"));
        QTRY_VERIFY_WITH_TIMEOUT(compare.statusText().contains("B is ready"), 10000);
        QVERIFY(!compare.askBoth("What is the total?"));  // no page ticked
        QVERIFY(compare.statusText().contains("Tick the pages"));

        auto* pages = window.findChild<QListView*>("pageList");
        pages->model()->setData(pages->model()->index(1, 0), Qt::Checked, Qt::CheckStateRole);
        QSignalSpy finished(&compare, &ComparePanel::finished);
        QVERIFY(compare.askBoth("What is the total?"));
        QVERIFY(!compare.askBoth("What is the total?"));  // one comparison at a time
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 120000);
        QVERIFY(compare.resultA().has_value() && compare.resultB().has_value());
        const auto& a = *compare.resultA();
        const auto& b = *compare.resultB();
        QCOMPARE(a.tokens.size(), 6);
        QVERIFY(!b.tokens.isEmpty());
        QCOMPARE(a.timings.imageTokens, b.timings.imageTokens);  // the twin reads the same global view, without the groups
        QVERIFY(a.timings.imageTokens > 0);
        QVERIFY(compare.statusText().contains("answer"));
        if (const auto shots = qEnvironmentVariable("DEEPSTACK_SCREENSHOT_DIR"); !shots.isEmpty()) window.grab().save(shots + "/compare.png");

        // The chat asks the same of A and gets A's answer: its conversation was replayed after the comparison.
        auto* input = window.findChild<QPlainTextEdit*>("questionInput");
        QTest::keyClicks(input, "What is the total?");
        QTest::keyClick(input, Qt::Key_Return, Qt::ControlModifier);
        QTRY_VERIFY_WITH_TIMEOUT(!chat.isBusy(), 120000);
        QCOMPARE(chat.current().messages.back().tokens, a.tokens);
        QCOMPARE(chat.current().messages.size(), 2);
        // A had just encoded that page: the chat's answer says its vision pass was reused, and so does each column
        // when the same question is compared again (each model keeps its own last pictures).
        QVERIFY(!a.timings.visionReused);
        const auto& asked = chat.current().messages.back().timings;
        QVERIFY(asked.visionReused);
        // The line under the chat ends on the engine's numbers, the same as the answer's own line.
        QCOMPARE(window.findChild<QLabel*>("liveStats")->text(), QString("First token after %1 ms · %2 tokens · %3 tok/s")
                                                                   .arg(asked.timeToFirstTokenMs, 0, 'f', 0)
                                                                   .arg(asked.generatedTokens)
                                                                   .arg(asked.decodeTokensPerSecond, 0, 'f', 1));
        QVERIFY2(window.findChild<QTextBrowser*>("chatView")->toPlainText().contains("vision reused"),
                 qPrintable(window.findChild<QTextBrowser*>("chatView")->toPlainText()));
        QTRY_VERIFY_WITH_TIMEOUT(!window.inference().isBusy(), 120000);
        pages->model()->setData(pages->model()->index(1, 0), Qt::Checked, Qt::CheckStateRole);  // sending unticked it
        // The line before sending knows the model keeps that page's vision pass, and counts no vision time; with
        // another page ticked too, the pictures differ and the vision pass counts again.
        const auto rates = MainWindow::speedRates(*window.inference().model());
        QVERIFY(rates.has_value());
        const auto tokens = window.pageTokens(window.workspaceModel().attachedPages().front());
        const auto kept = window.chatPanel().attachmentsText();
        QVERIFY2(kept.contains(QString("≈ %1 to the first word (the model has just read these pages: no vision pass)")
                                   .arg(deepstack::ui::describeDuration(rates->secondsToFirstWord(tokens, 64, true)))),
                 qPrintable(kept));
        pages->model()->setData(pages->model()->index(0, 0), Qt::Checked, Qt::CheckStateRole);
        QVERIFY2(!window.chatPanel().attachmentsText().contains("just read"), qPrintable(window.chatPanel().attachmentsText()));
        pages->model()->setData(pages->model()->index(0, 0), Qt::Unchecked, Qt::CheckStateRole);
        QVERIFY(window.chatPanel().attachmentsText().contains("just read"));
        QVERIFY2(compare.askBoth("What is the total?"), qPrintable(compare.statusText()));
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, 120000);
        QVERIFY(compare.resultA()->timings.visionReused && compare.resultB()->timings.visionReused);
        QCOMPARE(compare.resultA()->tokens, a.tokens);
        for (const auto* name : {"compareAnswerA", "compareAnswerB"}) {
            const auto* stats = window.findChild<QLabel*>(QString(name) + "Stats");
            QVERIFY2(stats != nullptr && stats->text().contains("(vision reused, prefill"), name);
        }
        if (const auto shots = qEnvironmentVariable("DEEPSTACK_SCREENSHOT_DIR"); !shots.isEmpty()) window.grab().save(shots + "/compare-again.png");
    }
};

DEEPSTACK_TEST_MAIN(TestComparePanel)

}  // namespace test_compare_panel
#include "test_compare_panel.moc"

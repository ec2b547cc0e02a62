// The attention workspace end to end on the tiny DeepStack-L model: ask about a page, follow the answer's
// Attention link, pick a word, step through the layers (by slider, by clicking the stack map and the chart, by
// Play), see the group enter, switch heads and the group grid, export the view and the numbers, and read them
// back. Set DEEPSTACK_SCREENSHOT_DIR to keep a picture of the window.
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QListView>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QSettings>
#include <QSignalSpy>
#include <QSlider>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>
#include "test_main.h"
#include <QPdfDocument>
#include <QPdfSelection>

#include "MainWindow.h"
#include "attention/AttentionPanel.h"
#include "attention/HeatmapView.h"
#include "attention/LayerShareChart.h"
#include "attention/StackMapView.h"
#include "chat/ChatController.h"
#include "chat/ChatPanel.h"
#include "chat/ChatView.h"
#include "inference/InferenceService.h"
#include "ui_test_files.h"

#include <atomic>
#include <future>
#include <stdexcept>

namespace test_attention_panel {

using deepstack::ui::AttentionPanel;
using deepstack::ui::MainWindow;

class TestAttentionPanel : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { deepstack::testing::startWithNoSavedState("test_attention_panel"); }

    // A page-sized heatmap takes tens of milliseconds to composite: it is drawn on a worker thread while the GUI
    // thread goes on, requests made meanwhile collapse into the latest, and a clear() drops what was under way.
    void heatmapsAreComposedOffTheGuiThreadAndTheLatestWins() {
        using deepstack::ui::HeatmapView;
        const auto filled = [](QColor colour) {
            QImage image(8, 8, QImage::Format_RGB888);
            image.fill(colour);
            return image;
        };
        // Declared in this order so that a failed check cannot leave a worker behind: the promises go first (a
        // broken promise releases the gate), then the view (which waits for the worker), then what the worker counts.
        std::atomic<QThread*> drewOn{nullptr};
        std::atomic<int> drawn{0};
        HeatmapView view;
        std::promise<void> release;
        const auto gate = release.get_future().share();
        view.compose([&, gate] { drewOn = QThread::currentThread(); gate.wait(); ++drawn; return filled(Qt::red); }, 1, "first");
        view.compose([&] { ++drawn; return filled(Qt::green); }, 1, "second");  // waits behind the first
        view.compose([&] { ++drawn; return filled(Qt::blue); }, 1, "third");    // replaces the second
        QVERIFY(view.isComposing());
        QVERIFY(view.heatmap().isNull());  // the GUI thread came back while the first is still drawing
        release.set_value();
        QTRY_VERIFY(!view.isComposing());
        QCOMPARE(drawn.load(), 2);  // the first (already running) and the third; the second never
        QCOMPARE(view.heatmap().pixelColor(0, 0), QColor(Qt::blue));
        QVERIFY(drewOn.load() != nullptr && drewOn.load() != QThread::currentThread());

        std::promise<void> release2;
        const auto gate2 = release2.get_future().share();
        view.compose([gate2, &filled] { gate2.wait(); return filled(Qt::red); }, 1, "dropped");
        view.clear("Choose a token.");
        release2.set_value();
        view.waitForComposition();
        QVERIFY(view.heatmap().isNull());

        view.compose([]() -> QImage { throw std::runtime_error("no picture"); }, 1, "fails");
        view.waitForComposition();
        QVERIFY(view.heatmap().isNull());
        QCOMPARE(view.message(), QString("no picture"));
        QVERIFY(!view.isComposing());
        view.compose([]() -> QImage { throw 42; }, 1, "fails otherwise");  // not a std::exception: still answered
        view.waitForComposition();
        QVERIFY(!view.isComposing());
        QVERIFY(view.message().contains("could not be drawn"));
    }

    void lookAtWhereTheAnswerLooked() {
        QTemporaryDir dir;
        const auto pdf = dir.filePath("invoice.pdf");
        deepstack::testing::writePdf(pdf, 2);
        MainWindow window;
        const auto notReady = deepstack::testing::showWithTinyDeepStack(window, pdf);
        QVERIFY2(notReady.isEmpty(), qPrintable(notReady));
        auto& panel = window.attention();

        // Before any question: the Attention link has nothing to look into, and says so.
        window.recordAttention();
        QVERIFY(panel.capture() == nullptr);
        // The stack map already shows the model's plan for the page on screen.
        window.showAttentionTab();
        QTRY_VERIFY(panel.stackMap().hasPlan());

        auto* pages = window.findChild<QListView*>("pageList");
        pages->model()->setData(pages->model()->index(1, 0), Qt::Checked, Qt::CheckStateRole);
        auto& chat = window.chat();
        auto sampling = chat.current().sampling;
        sampling.maxTokens = 6;
        chat.setSampling(sampling);
        auto* input = window.findChild<QPlainTextEdit*>("questionInput");
        QTest::keyClicks(input, "What is the total?");
        QTest::keyClick(input, Qt::Key_Return, Qt::ControlModifier);
        QTRY_VERIFY_WITH_TIMEOUT(!chat.isBusy(), 120000);

        // The answer's Attention link records and shows the Attention tab.
        QSignalSpy captured(&window.inference(), &deepstack::ui::InferenceService::attentionCaptured);
        Q_EMIT window.chatPanel().view()->anchorClicked(QUrl("chat:attention"));
        QTRY_COMPARE_WITH_TIMEOUT(captured.count(), 1, 60000);
        QCOMPARE(window.findChild<QTabWidget*>("leftTabs")->currentWidget(), &panel);
        const auto* capture = panel.capture();
        QVERIFY(capture != nullptr);
        QCOMPARE(panel.conversationId(), chat.current().id);
        QCOMPARE(capture->layers.size(), std::size_t{6});
        QCOMPARE(panel.tokenList().count(), static_cast<int>(capture->queries.size()));
        QCOMPARE(panel.chosenQueries(), capture->queries_of(deepstack::AttentionQuery::Kind::answer));
        QCOMPARE(panel.chart().bars().size(), std::size_t{6});
        // The picture the model saw: page 2 at the chosen resolution.
        const auto& picture = capture->images.at(0).image;
        QCOMPARE(panel.heatmap().size(), QSize(picture.width, picture.height));

        // Pick one word of the answer.
        const auto answers = capture->queries_of(deepstack::AttentionQuery::Kind::answer);
        QVERIFY(!answers.empty());
        for (int row = 0; row < panel.tokenList().count(); ++row)
            panel.tokenList().item(row)->setSelected(panel.tokenList().item(row)->data(Qt::UserRole).toULongLong() == answers.front());
        QCOMPARE(panel.chosenQueries(), std::vector<std::size_t>{answers.front()});
        const QImage layer0 = panel.heatmap();

        // The slider, the stack map and the chart select the same layer everywhere.
        window.findChild<QSlider*>("layerSlider")->setValue(3);
        QCOMPARE(panel.layer(), 3);
        QCOMPARE(panel.stackMap().selectedLayer(), 3);
        QVERIFY(panel.heatmap() != layer0);
        auto& map = panel.stackMap();
        QTest::mouseClick(&map, Qt::LeftButton, {}, map.layerRect(1).center().toPoint());
        QCOMPARE(panel.layer(), 1);
        QCOMPARE(window.findChild<QSlider*>("layerSlider")->value(), 1);

        // Layer 1 receives DeepStack-L's first group: the map can be drawn on that group's grid.
        QVERIFY(capture->images[0].plan.group_seen_first_at(1) != nullptr);
        QVERIFY(panel.groupGrid().isEnabled());
        const QImage onInput = panel.heatmap();
        panel.groupGrid().setChecked(true);
        QVERIFY(panel.heatmap() != onInput);
        panel.setLayer(0);
        QVERIFY(!panel.groupGrid().isEnabled());  // layer 0 receives no group

        // Heads: mean, max and each one.
        QCOMPARE(panel.headChoice().count(), 2 + static_cast<int>(capture->heads));
        const QImage mean = panel.heatmap();
        panel.headChoice().setCurrentIndex(3);
        QVERIFY(panel.heatmap() != mean);

        // Play steps bottom to top and stops at the last layer.
        panel.play(true);
        QTRY_COMPARE_WITH_TIMEOUT(panel.layer(), 5, 10000);

        if (const auto shots = qEnvironmentVariable("DEEPSTACK_SCREENSHOT_DIR"); !shots.isEmpty()) {
            panel.setLayer(1);
            (void)panel.heatmap();  // the layer's map is composed on a worker thread: shown once this returns
            QCoreApplication::processEvents();
            window.grab().save(shots + "/attention.png");
        }

        // Exports: the view as PNG, the numbers as JSON and CSV; they open and hold what is shown.
        QString error;
        QVERIFY2(panel.exportView(dir.filePath("view.png"), &error), qPrintable(error));
        QVERIFY(!QImage(dir.filePath("view.png")).isNull());
        QVERIFY2(panel.exportNumbers(dir.filePath("numbers.json"), &error), qPrintable(error));
        QFile json(dir.filePath("numbers.json"));
        QVERIFY(json.open(QIODevice::ReadOnly));
        const auto doc = QJsonDocument::fromJson(json.readAll()).object();
        QCOMPARE(doc.value("format").toString(), QString("deepstack-studio-attention"));
        QCOMPARE(doc.value("layers").toArray().size(), 6);
        QCOMPARE(doc.value("queries").toArray().size(), 1);
        QCOMPARE(doc.value("layers").toArray()[0].toObject().value("heads").toObject().value("mean").toObject().value("visual").toArray().size(),
                 static_cast<int>(capture->visual_tokens));
        QVERIFY2(panel.exportNumbers(dir.filePath("numbers.csv"), &error), qPrintable(error));
        QFile csv(dir.filePath("numbers.csv"));
        QVERIFY(csv.open(QIODevice::ReadOnly));
        QVERIFY(csv.readLine().startsWith("layer,head,image,token"));
        QVERIFY(!panel.exportView(dir.filePath("no-such-folder/view.png"), &error));
        QVERIFY(error.contains("no-such-folder"));

        // On stage (presenter mode) a new recording plays through the layers by itself, from the bottom.
        window.setPresenterMode(true);
        panel.setLayer(2);
        QSignalSpy again(&window.inference(), &deepstack::ui::InferenceService::attentionCaptured);
        window.recordAttention();
        QTRY_COMPARE_WITH_TIMEOUT(again.count(), 1, 60000);
        QTRY_COMPARE_WITH_TIMEOUT(panel.layer(), 5, 10000);
        window.setPresenterMode(false);

        // The answer report: one page with the question, the answer, the heatmap and the stack map, as a PDF whose
        // text reads back, and as a picture.
        QVERIFY2(window.exportAnswerReport(dir.filePath("report.pdf"), &error), qPrintable(error));
        QPdfDocument report;
        QCOMPARE(report.load(dir.filePath("report.pdf")), QPdfDocument::Error::None);
        QCOMPARE(report.pageCount(), 1);
        const auto text = report.getAllText(0).text();
        QVERIFY2(text.contains("What is the total?") && text.contains(QString("layer %1").arg(panel.layer())) && text.contains("DeepStack-L"), qPrintable(text));
        QVERIFY2(window.exportAnswerReport(dir.filePath("report.png"), &error), qPrintable(error));
        const QImage reportImage(dir.filePath("report.png"));
        QCOMPARE(reportImage.size(), QSize(1240, 1754));
        if (const auto shots = qEnvironmentVariable("DEEPSTACK_SCREENSHOT_DIR"); !shots.isEmpty()) reportImage.save(shots + "/answer-report.png");

        // The conversation goes on after looking.
        input->setFocus();
        QTest::keyClicks(input, "And the date?");
        QTest::keyClick(input, Qt::Key_Return, Qt::ControlModifier);
        QTRY_VERIFY_WITH_TIMEOUT(!chat.isBusy(), 120000);
        QCOMPARE(chat.current().messages.size(), 4);
        QVERIFY(chat.current().messages.back().state == deepstack::ui::ChatMessage::State::complete);
    }
};

DEEPSTACK_TEST_MAIN(TestAttentionPanel)

}  // namespace test_attention_panel
#include "test_attention_panel.moc"

// The Stacks tab end to end on the tiny DeepStack-L model: ask about a page, measure the stacks, read the table
// (one row per group and one for all of them, sortable by number), choose a group and see its answers side by
// side and its map over the page (where it joins, at the top), export the map and the numbers and read them back,
// and go on with the conversation as if nothing had been measured. Set DEEPSTACK_SCREENSHOT_DIR to keep a
// picture of the window.
#include <QComboBox>
#include <QDir>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QListView>
#include <QScrollBar>
#include <QPlainTextEdit>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest>
#include "test_main.h"

#include "MainWindow.h"
#include "chat/ChatController.h"
#include "inference/InferenceService.h"
#include "stacks/StacksPanel.h"
#include "attention/AttentionPanel.h"
#include "attention/StackMapView.h"
#include "ui_test_files.h"

namespace test_stacks_panel {

using deepstack::ui::MainWindow;

class TestStacksPanel : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { deepstack::testing::startWithNoSavedState("test_stacks_panel"); }

    void seeWhatEachGroupChanges() {
        QTemporaryDir dir;
        const auto pdf = dir.filePath("invoice.pdf");
        deepstack::testing::writePdf(pdf, 2);
        MainWindow window;
        const auto notReady = deepstack::testing::showWithTinyDeepStack(window, pdf);
        QVERIFY2(notReady.isEmpty(), qPrintable(notReady));
        auto& panel = window.stacks();

        // Before any question there is nothing to measure, and nothing is shown.
        QSignalSpy failed(&window.inference(), &deepstack::ui::InferenceService::stacksFailed);
        window.measureStacks();
        QVERIFY(panel.effects() == nullptr);
        QCOMPARE(window.findChild<QTabWidget*>("leftTabs")->currentWidget(), &panel);

        auto* pages = window.findChild<QListView*>("pageList");
        pages->model()->setData(pages->model()->index(1, 0), Qt::Checked, Qt::CheckStateRole);
        auto& chat = window.chat();
        auto sampling = chat.current().sampling;
        sampling.maxTokens = 6;
        chat.setSampling(sampling);
        const auto ask = [&](const QString& question) {
            auto* input = window.findChild<QPlainTextEdit*>("questionInput");
            QTest::keyClicks(input, question);
            QTest::keyClick(input, Qt::Key_Return, Qt::ControlModifier);
            QTRY_VERIFY_WITH_TIMEOUT(!chat.isBusy(), 120000);
        };
        ask("What is the total?");
        const auto answerTokens = chat.current().messages.back().tokens;

        QSignalSpy measured(&window.inference(), &deepstack::ui::InferenceService::stacksMeasured);
        window.findChild<QAction*>("actionMeasureStacks")->trigger();
        QTRY_COMPARE_WITH_TIMEOUT(measured.count(), 1, 120000);
        QCOMPARE(failed.count(), 0);
        const auto* effects = panel.effects();
        QVERIFY(effects != nullptr);
        QCOMPARE(panel.conversationId(), chat.current().id);
        const auto groups = static_cast<int>(effects->map.images.at(0).plan.groups.size());
        QVERIFY(groups >= 2);
        QCOMPARE(static_cast<int>(effects->each.size()), groups);
        QCOMPARE(static_cast<int>(effects->all.groups.size()), groups);
        QCOMPARE(QList<qint32>(effects->all.tokens.begin(), effects->all.tokens.end()), answerTokens);

        // The Attention tab's stack map shows each group's measure where it joins.
        const auto notes = window.attention().stackMap().groupNotes();
        QCOMPARE(notes.size(), groups);
        QCOMPARE(notes[0], QString("adds %1 × |h|").arg(effects->map.groups.at(0).mean_relative_change(), 0, 'f', 2));
        if (const auto shots = qEnvironmentVariable("DEEPSTACK_SCREENSHOT_DIR"); !shots.isEmpty()) {
            window.findChild<QTabWidget*>("leftTabs")->setCurrentWidget(&window.attention());
            window.attention().stackMap().grab().save(shots + "/stack-map-notes.png");
            window.findChild<QTabWidget*>("leftTabs")->setCurrentWidget(&panel);
        }

        // One row per group and one for all; a click on the mean change's header orders the rows by that number.
        auto& table = panel.table();
        QCOMPARE(table.rowCount(), groups + 1);
        for (int row = 0; row < groups; ++row) QCOMPARE(table.item(row, 0)->text(), QString("group %1").arg(row + 1));  // in plan order
        QCOMPARE(table.item(groups, 0)->text(), QString("all groups"));
        // At the window's default width the eight columns fit the tab, the answers in a quarter of it or more; a long
        // answer is elided, whole in its tooltip.
        window.resize(1280, 820);
        QTRY_COMPARE(table.horizontalScrollBar()->maximum(), 0);
        QVERIFY2(table.columnWidth(7) >= table.viewport()->width() / 4, "the answers get what the numbers leave");
        for (int row = 0; row < groups; ++row)
            QCOMPARE(table.item(row, 7)->toolTip(), QString::fromStdString(effects->each[static_cast<std::size_t>(row)].ablated_text));
        auto* header = table.horizontalHeader();
        QTest::mouseClick(header->viewport(), Qt::LeftButton, {},
                          QPoint(header->sectionViewportPosition(2) + header->sectionSize(2) / 2, header->height() / 2));
        QCOMPARE(header->sortIndicatorSection(), 2);
        const auto ascending = header->sortIndicatorOrder() == Qt::AscendingOrder;
        for (int row = 1; row < table.rowCount(); ++row) {
            const auto above = table.item(row - 1, 2)->data(Qt::DisplayRole).toDouble();
            const auto below = table.item(row, 2)->data(Qt::DisplayRole).toDouble();
            QVERIFY(ascending ? above <= below : above >= below);
        }

        // A group: its answer without it beside the original, and its map over the page the model saw.
        panel.chooseGroup(2);
        QCOMPARE(panel.chosenGroup(), 2);
        QVERIFY(panel.ablatedAnswerHtml().contains(QString::fromStdString(effects->each[1].ablated_text).trimmed()));
        QVERIFY(panel.answerHtml().contains("background-color:"));  // the tokens are shaded
        const auto& picture = effects->map.images.at(0).image;
        QCOMPARE(panel.heatmap().size(), QSize(picture.width, picture.height));
        const QImage joins = panel.heatmap();
        panel.measureChoice().setCurrentIndex(1);
        QVERIFY(panel.heatmap() != joins);
        panel.chooseGroup(0);  // all groups: the answers compare, a map needs one group
        QCOMPARE(panel.chosenGroup(), 0);
        QVERIFY(panel.heatmap().isNull());
        panel.chooseGroup(1);

        if (const auto shots = qEnvironmentVariable("DEEPSTACK_SCREENSHOT_DIR"); !shots.isEmpty()) window.grab().save(shots + "/stacks.png");

        // Exports open and hold what is shown.
        QString error;
        QVERIFY2(panel.exportMap(dir.filePath("map.png"), &error), qPrintable(error));
        QVERIFY(!QImage(dir.filePath("map.png")).isNull());
        QVERIFY2(panel.exportNumbers(dir.filePath("stacks.json"), &error), qPrintable(error));
        QFile file(dir.filePath("stacks.json"));
        QVERIFY(file.open(QIODevice::ReadOnly));
        const auto json = QJsonDocument::fromJson(file.readAll()).object();
        QCOMPARE(json.value("format").toString(), QString("deepstack-studio-stack-effects"));
        QCOMPARE(json.value("each_group").toArray().size(), groups);
        QCOMPARE(json.value("all_groups").toObject().value("tokens").toArray().size(), answerTokens.size());
        QCOMPARE(json.value("injection_map").toObject().value("groups").toArray().size(), static_cast<qsizetype>(effects->map.groups.size()));
        QVERIFY(!panel.exportMap(QDir(dir.path()).filePath("missing/folder/map.png"), &error));
        QVERIFY(error.contains("could not be written"));

        // The conversation goes on: a follow-up is answered and the measured numbers stay until measured again.
        ask("And the date?");
        QCOMPARE(chat.current().messages.size(), 4);
        QVERIFY(!chat.current().messages.back().text.isEmpty() || !chat.current().messages.back().tokens.isEmpty());
    }
};

DEEPSTACK_TEST_MAIN(TestStacksPanel)

}  // namespace test_stacks_panel
#include "test_stacks_panel.moc"

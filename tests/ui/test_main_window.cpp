// The main window starts, shows its workspace, menus and status, inspects a folder off the GUI thread, and closes.
#include <QAction>
#include <QLabel>
#include <QMenuBar>
#include <QPlainTextEdit>
#include <QTemporaryDir>
#include <QtTest>

#include "MainWindow.h"
#include "ModelReportDialog.h"
#include "tiny_folders.h"

using deepstack::ui::MainWindow;

class TestMainWindow : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() {
        QCoreApplication::setOrganizationName("DeepStack Studio Tests");
        QCoreApplication::setApplicationName("test_main_window");
    }

    void startsAndCloses() {
        auto* window = new MainWindow;
        window->show();
        QVERIFY(QTest::qWaitForWindowExposed(window));
        QCOMPARE(window->windowTitle(), QString("DeepStack Studio"));
        QVERIFY(window->findChild<QWidget*>("workspace") != nullptr);
        QCOMPARE(window->findChild<QLabel*>("modelStatus")->text(), QString("No model loaded"));
        QStringList menus;
        for (auto* action : window->menuBar()->actions()) menus << action->text();
        QCOMPARE(menus, (QStringList{"&File", "&Model", "&Help"}));
        QVERIFY(window->close());
        delete window;
    }

    void quitActionClosesTheWindow() {
        MainWindow window;
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        auto* quit = window.findChild<QAction*>("actionQuit");
        QVERIFY(quit != nullptr);
        QCOMPARE(quit->shortcut(), QKeySequence(QKeySequence::Quit));
        quit->trigger();
        QVERIFY(!window.isVisible());
    }

    void inspectShowsTheReport() {
        QTemporaryDir dir;
        const auto folder = std::filesystem::path(dir.path().toStdString()) / "qwen";
        deepstack::testing::write_tiny_folder(folder, deepstack::testing::tiny_qwen3_vl_config());
        MainWindow window;
        window.show();
        window.inspectModelFolder(QString::fromStdString(folder.string()));
        QTRY_VERIFY(window.findChild<deepstack::ui::ModelReportDialog*>("modelReportDialog") != nullptr);
        auto* dialog = window.findChild<deepstack::ui::ModelReportDialog*>("modelReportDialog");
        const auto text = dialog->findChild<QPlainTextEdit*>()->toPlainText();
        QVERIFY(text.contains("Qwen3-VL (qwen3_vl)"));
        QVERIFY(text.contains("no problems found"));
        dialog->close();
    }
};

QTEST_MAIN(TestMainWindow)
#include "test_main_window.moc"

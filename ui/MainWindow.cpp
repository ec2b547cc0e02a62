#include "MainWindow.h"

#include <QApplication>
#include <QCloseEvent>
#include <QFileDialog>
#include <QFutureWatcher>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QSettings>
#include <QStatusBar>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include "ModelReportDialog.h"
#include "deepstack/inspect.h"

namespace deepstack::ui {

namespace {
const char* kGeometryKey = "mainWindow/geometry";
const char* kStateKey = "mainWindow/state";
const char* kLastModelFolderKey = "models/lastFolder";

QWidget* createEmptyWorkspace(QWidget* parent) {
    auto* workspace = new QWidget(parent);
    workspace->setObjectName("workspace");
    auto* layout = new QVBoxLayout(workspace);
    auto* hint = new QLabel(QObject::tr("<h2>DeepStack Studio</h2>"
                                        "<p>Ask questions about your documents and photos, fully offline.</p>"
                                        "<p>Start with <b>Model &rsaquo; Inspect Model Folder&hellip;</b> to check a "
                                        "Qwen3-VL or DeepStack-L folder.</p>"),
                            workspace);
    hint->setObjectName("workspaceHint");
    hint->setAlignment(Qt::AlignCenter);
    hint->setTextFormat(Qt::RichText);
    layout->addStretch(1);
    layout->addWidget(hint);
    layout->addStretch(1);
    return workspace;
}
}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle(tr("DeepStack Studio"));
    setWindowIcon(QIcon(":/icons/deepstack-studio.svg"));
    setCentralWidget(createEmptyWorkspace(this));
    createMenus();

    modelStatus_ = new QLabel(tr("No model loaded"), this);
    modelStatus_->setObjectName("modelStatus");
    statusBar()->addPermanentWidget(modelStatus_);
    statusBar()->showMessage(tr("Ready"), 3000);

    resize(1200, 800);
    QSettings settings;
    restoreGeometry(settings.value(kGeometryKey).toByteArray());
    restoreState(settings.value(kStateKey).toByteArray());
}

MainWindow::~MainWindow() = default;

void MainWindow::createMenus() {
    auto* file = menuBar()->addMenu(tr("&File"));
    auto* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);
    quit->setObjectName("actionQuit");

    auto* model = menuBar()->addMenu(tr("&Model"));
    auto* inspect = model->addAction(tr("&Inspect Model Folder..."), this, &MainWindow::chooseModelFolderToInspect);
    inspect->setObjectName("actionInspectModelFolder");

    auto* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About DeepStack Studio"), this, &MainWindow::showAbout);
    help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
}

void MainWindow::chooseModelFolderToInspect() {
    QSettings settings;
    const auto folder = QFileDialog::getExistingDirectory(this, tr("Model folder"),
                                                          settings.value(kLastModelFolderKey).toString());
    if (folder.isEmpty()) return;
    settings.setValue(kLastModelFolderKey, folder);
    inspectModelFolder(folder);
}

void MainWindow::inspectModelFolder(const QString& folder) {
    statusBar()->showMessage(tr("Inspecting %1...").arg(folder));
    auto* watcher = new QFutureWatcher<InspectReport>(this);
    connect(watcher, &QFutureWatcher<InspectReport>::finished, this, [this, watcher] {
        watcher->deleteLater();
        const auto report = watcher->result();
        statusBar()->showMessage(report.ok() ? tr("Inspected %1").arg(QString::fromStdString(report.folder.string()))
                                             : tr("%n problem(s) in %1", nullptr, static_cast<int>(report.problems.size()))
                                                   .arg(QString::fromStdString(report.folder.string())),
                                 5000);
        auto* dialog = new ModelReportDialog(report, this);
        dialog->setAttribute(Qt::WA_DeleteOnClose);
        dialog->setObjectName("modelReportDialog");
        dialog->show();
    });
    // Reading tokenizer files and shard headers of a large folder takes long enough to freeze the window.
    const auto path = folder.toStdString();
    watcher->setFuture(QtConcurrent::run([path] { return inspect_model_folder(path); }));
}

void MainWindow::showAbout() {
    QMessageBox::about(this, tr("About DeepStack Studio"),
                       tr("<h3>DeepStack Studio %1</h3>"
                          "<p>Runs DeepStack vision-language models (Qwen3-VL, DeepStack-L) on your own machine, "
                          "offline.</p><p>DeepStack: Meng et al., NeurIPS 2024, arXiv 2406.04334.</p>")
                           .arg(QApplication::applicationVersion()));
}

void MainWindow::closeEvent(QCloseEvent* event) {
    QSettings settings;
    settings.setValue(kGeometryKey, saveGeometry());
    settings.setValue(kStateKey, saveState());
    event->accept();
}

}  // namespace deepstack::ui

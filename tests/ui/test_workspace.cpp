// The workspace opens PDFs and pictures, renders pages onto white at the asked resolution, applies EXIF
// orientation, keeps the ticks, refuses damaged files with a message that names them, and asks for a protected
// PDF's password.
#include <QListView>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>
#include "test_main.h"

#include <optional>
#include <thread>

#include "test_files.h"
#include "ui_test_files.h"
#include "workspace/WorkspaceDocument.h"
#include "workspace/WorkspaceModel.h"
#include "workspace/WorkspacePanel.h"

namespace test_workspace {

using namespace deepstack::ui;
using namespace deepstack::testing;

class TestWorkspace : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QString file(const QString& name) const { return dir_.filePath(name); }

private Q_SLOTS:
    void pdfPagesRenderAtTheAskedResolution() {
        writePdf(file("three.pdf"), 3, Qt::red);
        QString error;
        const auto document = WorkspaceDocument::open(file("three.pdf"), &error);
        QVERIFY2(document, qPrintable(error));
        QVERIFY(document->isPdf());
        QCOMPARE(document->pageCount(), 3);
        QCOMPARE(document->pageSize(1).toSize(), QSize(612, 792));  // letter, in points
        const auto page = document->render(1, 144);
        QCOMPARE(page.size(), QSize(1224, 1584));
        QCOMPARE(page.format(), QImage::Format_RGB888);
        QCOMPARE(page.pixelColor(page.width() - 5, page.height() - 5), QColor(Qt::white));  // onto white
        const auto block = page.pixelColor(100, 100);                                       // the red block
        QVERIFY2(block.red() > 200 && block.green() < 60, qPrintable(block.name()));
        const auto thumbnail = document->thumbnail(0, 128);
        QCOMPARE(std::max(thumbnail.width(), thumbnail.height()), 128);
    }

    void exifOrientationIsApplied() {
        writeJpegWithOrientation(file("phone.jpg"), 80, 40, 6);
        QString error;
        const auto document = WorkspaceDocument::open(file("phone.jpg"), &error);
        QVERIFY2(document, qPrintable(error));
        const auto picture = document->render(0, 72);
        QCOMPARE(picture.size(), QSize(40, 80));  // turned upright
        // Turned 90 degrees clockwise, the red left half is now on top.
        QVERIFY(picture.pixelColor(20, 10).red() > 200);
        QVERIFY(picture.pixelColor(20, 70).blue() > 200);
    }

    // TIFF and WebP open as the file dialog promises (Qt reads them with Debian's qt6-image-formats-plugins); a
    // scanner's multi-page TIFF is one page per image, each its own size, named with its number.
    void tiffPagesAndWebp() {
        const auto pictures = data_dir() / "fixtures" / "pictures";
        const auto tiff = QString::fromStdString((pictures / "scan-3-pages.tif").string());
        QString error;
        const auto scan = WorkspaceDocument::open(tiff, &error);
        QVERIFY2(scan, qPrintable(error + " (is qt6-image-formats-plugins installed? installer/setup-debian.sh installs it)"));
        QCOMPARE(scan->pageCount(), 3);
        const QList<QSize> sizes{{60, 80}, {80, 60}, {40, 40}};
        const QList<QColor> colours{QColor(220, 20, 20), QColor(20, 200, 20), QColor(20, 20, 220)};
        for (int page = 0; page < 3; ++page) {
            QCOMPARE(scan->pageSize(page).toSize(), sizes[page]);
            QCOMPARE(scan->renderSize(page, 144), sizes[page]);  // pictures go to the model as they are
            const auto image = scan->render(page, 144);
            QCOMPARE(image.size(), sizes[page]);
            QCOMPARE(image.format(), QImage::Format_RGB888);
            QCOMPARE(image.pixelColor(10, 10), colours[page]);
            QVERIFY(!scan->thumbnail(page, 32).isNull());
        }
        QVERIFY(scan->render(3, 72).isNull());

        WorkspaceModel model;
        QCOMPARE(model.openFile(tiff, &error), 0);
        QCOMPARE(model.rowCount(), 3);
        QCOMPARE(model.data(model.index(2), Qt::DisplayRole).toString(), QString("scan-3-pages.tif · p. 3"));
        QCOMPARE(pageName(model.pageAt(2)), QString("scan-3-pages.tif p. 3"));
        QCOMPARE(WorkspaceModel::renderPageSource(model.pageSource(model.pageAt(1)), 144, &error).size(), sizes[1]);

        // In the page strip a long name is elided inside its cell: a row laid out wider than the grid is not drawn.
        QVERIFY(QFile::copy(tiff, file("annual-report-of-the-company-2025-scanned.tif")));
        QCOMPARE(model.openFile(file("annual-report-of-the-company-2025-scanned.tif"), &error), 3);
        WorkspacePanel panel(model);
        const auto* strip = panel.pageList();
        for (int row = 0; row < model.rowCount(); ++row)
            QVERIFY2(strip->sizeHintForIndex(model.index(row)).width() <= strip->gridSize().width(), qPrintable(model.pageAt(row).path));

        const auto webp = WorkspaceDocument::open(QString::fromStdString((pictures / "photo.webp").string()), &error);
        QVERIFY2(webp, qPrintable(error));
        QCOMPARE(webp->pageCount(), 1);
        const auto photo = webp->render(0, 72);
        QCOMPARE(photo.size(), QSize(64, 48));
        QCOMPARE(photo.pixelColor(8, 24), QColor(220, 20, 20));
        QCOMPARE(photo.pixelColor(56, 24), QColor(20, 20, 220));
        QCOMPARE(pageName({"/scans/photo.webp", 0}), QString("photo.webp"));
    }

    void transparentPicturesSitOnWhite() {
        QImage clear(10, 10, QImage::Format_ARGB32);
        clear.fill(Qt::transparent);
        QVERIFY(clear.save(file("clear.png")));
        QString error;
        const auto document = WorkspaceDocument::open(file("clear.png"), &error);
        QVERIFY(document);
        QCOMPARE(document->render(0, 72).pixelColor(5, 5), QColor(Qt::white));
    }

    void badFilesAreRefusedWithTheirName_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("expected");
        QTest::newRow("not a pdf") << "report.pdf" << QByteArray("%PDF-1.7 this is not really a PDF at all", 40) << "report.pdf: it is not a PDF file or it is damaged";
        QTest::newRow("empty") << "empty.png" << QByteArray() << "empty.png: the file is empty";
        QTest::newRow("truncated png") << "cut.png" << QByteArray::fromHex("89504e470d0a1a0a0000000d49484452000000") << "cut.png: the picture is damaged";
        QTest::newRow("unknown kind") << "notes.docx" << QByteArray("PK\x03\x04 not a picture", 20) << "notes.docx: this kind of file is not supported";
    }
    void badFilesAreRefusedWithTheirName() {
        QFETCH(QString, name);
        QFETCH(QByteArray, bytes);
        QFETCH(QString, expected);
        writeBytes(file(name), bytes);
        QString error;
        QVERIFY(!WorkspaceDocument::open(file(name), &error));
        QVERIFY2(error.contains(expected), qPrintable(error));

        WorkspaceModel model;
        QCOMPARE(model.openFile(file(name), &error), -1);
        QCOMPARE(model.rowCount(), 0);
    }

    void missingFile() {
        QString error;
        QVERIFY(!WorkspaceDocument::open(file("gone.pdf"), &error));
        QVERIFY2(error.contains("gone.pdf: the file does not exist"), qPrintable(error));
    }

    void modelListsEveryPageAndKeepsTicks() {
        writePdf(file("a.pdf"), 2);
        writeJpegWithOrientation(file("b.jpg"), 30, 20, 1);
        WorkspaceModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QSignalSpy attachments(&model, &WorkspaceModel::attachmentsChanged);
        QString error;
        QCOMPARE(model.openFile(file("a.pdf"), &error), 0);
        QCOMPARE(model.rowCount(), 2);
        QCOMPARE(model.data(model.index(1), Qt::DisplayRole).toString(), QString("a.pdf · p. 2"));
        QVERIFY(!model.data(model.index(1), Qt::DecorationRole).value<QPixmap>().isNull());

        QVERIFY(model.setData(model.index(1), Qt::Checked, Qt::CheckStateRole));
        QCOMPARE(attachments.count(), 1);
        QCOMPARE(model.openFile(file("b.jpg"), &error), 2);
        QCOMPARE(model.openFile(file("a.pdf"), &error), 0);  // already open: no second copy
        QCOMPARE(model.rowCount(), 3);
        model.setAttached({QFileInfo(file("b.jpg")).absoluteFilePath(), 0}, true);
        const QList<PageRef> expected{{QFileInfo(file("a.pdf")).absoluteFilePath(), 1}, {QFileInfo(file("b.jpg")).absoluteFilePath(), 0}};
        QCOMPARE(model.attachedPages(), expected);

        model.closeDocument(QFileInfo(file("a.pdf")).absoluteFilePath());
        QCOMPARE(model.rowCount(), 1);
        QCOMPARE(model.attachedPages(), QList<PageRef>{expected[1]});  // the other tick survived
        model.clearAttachments();
        QVERIFY(model.attachedPages().isEmpty());
    }

    // A PDF protected by a password: refused without it or with a wrong one, saying which; the workspace asks for
    // it (again after a wrong one), renders the page with it where the chat renders pages, and a cancelled prompt
    // leaves the file closed without an error.
    void protectedPdfOpensWithItsPassword() {
        const auto pdf = QString::fromStdString((data_dir() / "fixtures" / "pdf" / "protected.pdf").string());
        QString error;
        bool needsPassword = false;
        QVERIFY(!WorkspaceDocument::open(pdf, &error, {}, &needsPassword));
        QVERIFY(needsPassword);
        QVERIFY2(error.contains("protected.pdf: it is protected by a password"), qPrintable(error));
        needsPassword = false;
        QVERIFY(!WorkspaceDocument::open(pdf, &error, "wrong", &needsPassword));
        QVERIFY(needsPassword);
        QVERIFY2(error.contains("protected.pdf: the password is not right"), qPrintable(error));
        const auto document = WorkspaceDocument::open(pdf, &error, "deepstack");
        QVERIFY2(document, qPrintable(error));
        QCOMPARE(document->pageCount(), 1);
        const auto page = document->render(0, 72);
        QCOMPARE(page.size(), QSize(612, 792));
        QVERIFY2(page.pixelColor(100, 100).red() > 200 && page.pixelColor(100, 100).green() < 60, qPrintable(page.pixelColor(100, 100).name()));
        QVERIFY2(document->pageText(0).contains("TOTAL 12.50"), qPrintable(document->pageText(0)));

        WorkspaceModel model;
        WorkspacePanel panel(model);
        QSignalSpy failed(&panel, &WorkspacePanel::openFailed);
        QStringList answers{"wrong", "deepstack"};
        QList<bool> refusedBefore;
        panel.setPasswordPrompt([&](const QString& fileName, bool refused) -> std::optional<QString> {
            if (fileName != "protected.pdf") return std::nullopt;
            refusedBefore << refused;
            return answers.takeFirst();
        });
        QCOMPARE(panel.openFiles({pdf}), 1);
        QCOMPARE(refusedBefore, QList<bool>({false, true}));
        QCOMPARE(failed.count(), 0);
        const PageRef first{QFileInfo(pdf).absoluteFilePath(), 0};
        QCOMPARE(model.rowOf(first), 0);
        const auto source = model.pageSource(first);
        QImage rendered;
        std::thread elsewhere([&] { rendered = WorkspaceModel::renderPageSource(source, 72, &error); });  // as the chat does
        elsewhere.join();
        QVERIFY2(!rendered.isNull(), qPrintable(error));
        QCOMPARE(rendered.size(), QSize(612, 792));

        // Not open in the workspace (a restored conversation's page): the way to give the password is said.
        model.closeDocument(first.path);
        QVERIFY(model.renderForModel(first, 72, &error).isNull());
        QVERIFY2(error.contains("protected.pdf is protected by a password: open it"), qPrintable(error));

        panel.setPasswordPrompt([](const QString&, bool) -> std::optional<QString> { return std::nullopt; });
        QCOMPARE(panel.openFiles({pdf}), 0);
        QCOMPARE(model.rowCount(), 0);
        QCOMPARE(failed.count(), 0);
    }

    void renderForModelOpensFilesNotInTheWorkspace() {
        writePdf(file("closed.pdf"), 2);
        WorkspaceModel model;
        QString error;
        const auto page = model.renderForModel({file("closed.pdf"), 1}, 72, &error);
        QCOMPARE(page.size(), QSize(612, 792));
        QVERIFY(model.renderForModel({file("closed.pdf"), 5}, 72, &error).isNull());
        QVERIFY2(error.contains("has no page 6"), qPrintable(error));
        QVERIFY(model.renderForModel({file("nowhere.pdf"), 0}, 72, &error).isNull());
        QVERIFY2(error.contains("nowhere.pdf"), qPrintable(error));
    }
};

DEEPSTACK_TEST_MAIN(TestWorkspace)

}  // namespace test_workspace
#include "test_workspace.moc"

#include "ui_test_files.h"

#include <QBuffer>
#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QImage>
#include <QPainter>
#include <QPdfWriter>
#include <QSettings>
#include <QStandardPaths>
#include <QTest>
#include <QtEndian>

#include "MainWindow.h"
#include "inference/InferenceService.h"
#include "test_files.h"

namespace deepstack::testing {

void writePdf(const QString& path, int pages, const QColor& colour) {
    QPdfWriter writer(path);
    writer.setPageSize(QPageSize(QPageSize::Letter));
    writer.setResolution(72);
    QPainter painter(&writer);
    for (int page = 0; page < pages; ++page) {
        if (page > 0) writer.newPage();
        painter.fillRect(QRect(20, 20, 200, 250), colour);
        QFont font = painter.font();
        font.setPointSize(40);
        painter.setFont(font);
        painter.drawText(QRect(0, 400, 612, 100), Qt::AlignCenter, QString("Page %1").arg(page + 1));
    }
}

void writeJpegWithOrientation(const QString& path, int width, int height, int orientation) {
    QImage image(width, height, QImage::Format_RGB888);
    image.fill(Qt::blue);
    QPainter(&image).fillRect(0, 0, width / 2, height, Qt::red);
    QByteArray jpeg;
    QBuffer buffer(&jpeg);
    buffer.open(QIODevice::WriteOnly);
    image.save(&buffer, "JPEG", 95);
    // APP1 "Exif" with a big-endian TIFF header and one IFD entry: Orientation (0x0112), SHORT, 1 value.
    QByteArray tiff = QByteArray::fromHex("4d4d002a00000008" "0001" "011200030000000100000000" "00000000");
    qToBigEndian<quint16>(static_cast<quint16>(orientation), tiff.data() + 8 + 2 + 8);
    QByteArray app1 = QByteArray::fromHex("ffe1") + QByteArray(2, '\0') + QByteArray("Exif\0\0", 6) + tiff;
    qToBigEndian<quint16>(static_cast<quint16>(app1.size() - 2), app1.data() + 2);
    writeBytes(path, jpeg.left(2) + app1 + jpeg.mid(2));
}

void writeBytes(const QString& path, const QByteArray& bytes) {
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly)) qFatal("cannot write %s", qPrintable(path));
    file.write(bytes);
}

QString deepStackModelFolder() {
    return QString::fromStdString((data_dir() / "fixtures" / "deepstack" / "deepstack-l").string());
}

void startWithNoSavedState(const QString& testName) {
    QCoreApplication::setOrganizationName("DeepStack Studio Tests");
    QCoreApplication::setApplicationName(testName);
    QDir(QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + "/conversations").removeRecursively();
    QSettings().clear();
}

QString showWithTinyDeepStack(ui::MainWindow& window, const QString& pdf) {
    window.resize(1400, 900);
    window.show();
    if (!QTest::qWaitForWindowExposed(&window)) return "the window was not shown";
    window.openFiles({pdf});
    QString loadError;
    const auto failed = QObject::connect(&window.inference(), &ui::InferenceService::modelLoadFailed,
                                         [&](const QString& message, bool) { loadError = message; });
    window.loadModel(deepStackModelFolder());
    constexpr int twoMinutes = 120000;
    const bool loaded = QTest::qWaitFor([&] { return window.inference().model().has_value() || !loadError.isEmpty(); }, twoMinutes);
    QObject::disconnect(failed);
    if (!loadError.isEmpty()) return "the tiny DeepStack-L model did not load: " + loadError;
    if (!loaded) return "the tiny DeepStack-L model did not load in two minutes";
    if (!QTest::qWaitFor([&] { return !window.inference().isBusy(); }, twoMinutes))
        return "the model was still busy (measuring its speed) after two minutes";
    return {};
}

}  // namespace deepstack::testing

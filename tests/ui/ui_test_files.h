// Files the UI tests make on the fly: PDFs (QPdfWriter), pictures with an EXIF orientation, damaged files.
#pragma once

#include <QColor>
#include <QString>

namespace deepstack::ui {
class MainWindow;
}

namespace deepstack::testing {

// `pages` letter pages, each with "Page N" in large type and a block of `colour` in its top-left quarter.
void writePdf(const QString& path, int pages, const QColor& colour = Qt::red);
// A width x height JPEG, left half red and right half blue, whose EXIF says to turn it by `orientation`
// (6: 90 degrees clockwise).
void writeJpegWithOrientation(const QString& path, int width, int height, int orientation);
void writeBytes(const QString& path, const QByteArray& bytes);
// A complete DeepStack-L model folder (tiny, from the parity fixtures; it has its own tokenizer.model).
QString deepStackModelFolder();
// Gives the test its own settings and data folder, emptied: conversations or settings left by an earlier run would
// change what a window restores.
void startWithNoSavedState(const QString& testName);
// Shows `window` at 1400 x 900, opens `pdf` and loads the tiny DeepStack-L model (deepStackModelFolder()); returns
// once the model is loaded and idle (its first load also measures its speed), or after two minutes with what did
// not happen. Empty: ready.
QString showWithTinyDeepStack(ui::MainWindow& window, const QString& pdf);

}  // namespace deepstack::testing

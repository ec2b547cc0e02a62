// A file open in the workspace: a picture (one page, or several in a TIFF) or a PDF (QtPdf). Pages render onto
// white at a chosen resolution, which is also what the model is shown.
#pragma once

#include <QImage>
#include <QList>
#include <QSize>
#include <QSizeF>
#include <QString>

#include <memory>

class QPdfDocument;

namespace deepstack::ui {

class WorkspaceDocument {
public:
    ~WorkspaceDocument();
    // nullptr with `error` set to a sentence a user can act on ("scan.pdf is not a PDF file or is damaged").
    // A PDF protected by a password opens with `password`; without it, or with a wrong one, `needsPassword` is set.
    static std::unique_ptr<WorkspaceDocument> open(const QString& path, QString* error, const QString& password = {},
                                                   bool* needsPassword = nullptr);
    // The file types the workspace opens, for file dialogs.
    static QString fileFilter();
    static bool isSupportedFile(const QString& path);

    const QString& path() const { return path_; }
    QString fileName() const;
    bool isPdf() const { return pdf_ != nullptr; }
    // The password the PDF opened with (empty when it has none): kept in memory only, for the threads that open the
    // file again to render its pages; never written anywhere.
    const QString& password() const { return password_; }
    int pageCount() const;
    // Points (1/72 inch) for PDF pages; pixels for pictures.
    QSizeF pageSize(int page) const;
    // PDF pages at `dpi` onto white; a picture as it is (upright, alpha composited onto white), scaled by
    // dpi / 72 only when `scalePictures` is set (the page view's zoom). A null image when rendering failed.
    QImage render(int page, double dpi, bool scalePictures = false) const;
    // The size render(page, dpi) gives for the model (pictures unscaled), without rendering.
    QSize renderSize(int page, double dpi) const;
    QImage thumbnail(int page, int longestSide) const;
    // The page's text layer (a PDF page's words as QtPdf reads them); empty for a picture or a scanned page.
    QString pageText(int page) const;

private:
    WorkspaceDocument() = default;
    // A picture's page, upright on white: the first is kept decoded; a multi-page TIFF's others are read when asked
    // for (a scanner's 50-page colour TIFF would hold gigabytes decoded).
    QImage picture(int page) const;

    QString path_;
    QString password_;
    QImage picture_;
    QList<QSize> pictureSizes_;  // each page's upright size, from the file's headers
    std::unique_ptr<QPdfDocument> pdf_;
};

// RGB888 over white: what both the views and the model take.
QImage flattenOntoWhite(const QImage& image);

}  // namespace deepstack::ui

#include "workspace/WorkspaceDocument.h"

#include <QPdfSelection>

#include <QFileInfo>
#include <QImageReader>
#include <QPainter>
#include <QPdfDocument>

namespace deepstack::ui {

namespace {
const QStringList kPictureSuffixes{"png", "jpg", "jpeg", "webp", "tif", "tiff", "bmp"};

QString pdfErrorText(QPdfDocument::Error error) {
    switch (error) {
        case QPdfDocument::Error::FileNotFound: return QObject::tr("the file does not exist or cannot be read");
        case QPdfDocument::Error::InvalidFileFormat: return QObject::tr("it is not a PDF file or it is damaged");
        case QPdfDocument::Error::IncorrectPassword: return QObject::tr("it is protected by a password");
        case QPdfDocument::Error::UnsupportedSecurityScheme: return QObject::tr("its encryption is not supported");
        default: return QObject::tr("the PDF could not be read");
    }
}
}  // namespace

QImage flattenOntoWhite(const QImage& image) {
    if (!image.hasAlphaChannel()) return image.convertToFormat(QImage::Format_RGB888);
    QImage flat(image.size(), QImage::Format_RGB888);
    flat.setDevicePixelRatio(image.devicePixelRatio());
    flat.fill(Qt::white);
    QPainter painter(&flat);
    painter.drawImage(0, 0, image);
    painter.end();
    return flat;
}

WorkspaceDocument::~WorkspaceDocument() = default;

QString WorkspaceDocument::fileFilter() {
    return QObject::tr("Documents and pictures (*.pdf *.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp);;PDF (*.pdf);;"
                       "Pictures (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp)");
}

bool WorkspaceDocument::isSupportedFile(const QString& path) {
    const auto suffix = QFileInfo(path).suffix().toLower();
    return suffix == "pdf" || kPictureSuffixes.contains(suffix);
}

std::unique_ptr<WorkspaceDocument> WorkspaceDocument::open(const QString& path, QString* error, const QString& password,
                                                           bool* needsPassword) {
    const QFileInfo info(path);
    const auto fail = [&](const QString& why) -> std::unique_ptr<WorkspaceDocument> {
        if (error) *error = QObject::tr("Cannot open %1: %2.").arg(info.fileName(), why);
        return nullptr;
    };
    if (!info.exists()) return fail(QObject::tr("the file does not exist"));
    if (!info.isReadable()) return fail(QObject::tr("you have no permission to read it"));
    if (info.size() == 0) return fail(QObject::tr("the file is empty"));

    std::unique_ptr<WorkspaceDocument> document(new WorkspaceDocument());
    document->path_ = info.absoluteFilePath();
    if (info.suffix().compare("pdf", Qt::CaseInsensitive) == 0) {
        document->pdf_ = std::make_unique<QPdfDocument>();
        document->pdf_->setPassword(password);
        const auto status = document->pdf_->load(path);
        if (status == QPdfDocument::Error::IncorrectPassword) {
            if (needsPassword != nullptr) *needsPassword = true;
            return fail(password.isEmpty() ? pdfErrorText(status) : QObject::tr("the password is not right"));
        }
        if (status != QPdfDocument::Error::None) return fail(pdfErrorText(status));
        document->password_ = password;
        if (document->pdf_->pageCount() <= 0) return fail(QObject::tr("the PDF has no pages"));
        return document;
    }
    QImageReader reader(path);
    reader.setAutoTransform(true);  // EXIF orientation: phone photos come out upright
    reader.setDecideFormatFromContent(true);
    QImage picture = reader.read();
    if (picture.isNull()) {
        if (!kPictureSuffixes.contains(info.suffix().toLower())) return fail(QObject::tr("this kind of file is not supported"));
        return fail(QObject::tr("the picture is damaged or not in a supported format (%1)").arg(reader.errorString()));
    }
    document->picture_ = flattenOntoWhite(picture);
    document->pictureSizes_ = {document->picture_.size()};
    // A TIFF's further images are its further pages (an animated WebP's frames are not pages). A reader of its own:
    // one that has read an image forgets its format.
    QImageReader pages(path);
    pages.setAutoTransform(true);
    pages.setDecideFormatFromContent(true);
    for (int page = 1; pages.format() == "tiff" && pages.jumpToImage(page); ++page) {
        auto size = pages.size();
        if (pages.transformation().testFlag(QImageIOHandler::TransformationRotate90)) size.transpose();
        if (size.isEmpty()) break;  // a damaged page ends the document where it can still be read
        document->pictureSizes_.append(size);
    }
    return document;
}

QImage WorkspaceDocument::picture(int page) const {
    if (page == 0) return picture_;
    QImageReader reader(path_);
    reader.setAutoTransform(true);
    reader.setDecideFormatFromContent(true);
    if (!reader.jumpToImage(page)) return {};
    const auto image = reader.read();
    return image.isNull() ? QImage() : flattenOntoWhite(image);
}

QString WorkspaceDocument::fileName() const { return QFileInfo(path_).fileName(); }

int WorkspaceDocument::pageCount() const { return pdf_ ? pdf_->pageCount() : static_cast<int>(pictureSizes_.size()); }

QString WorkspaceDocument::pageText(int page) const {
    if (!pdf_ || page < 0 || page >= pageCount()) return {};
    return pdf_->getAllText(page).text();
}

QSizeF WorkspaceDocument::pageSize(int page) const {
    if (page < 0 || page >= pageCount()) return {};
    return pdf_ ? pdf_->pagePointSize(page) : QSizeF(pictureSizes_[page]);
}

QImage WorkspaceDocument::render(int page, double dpi, bool scalePictures) const {
    if (page < 0 || page >= pageCount()) return {};
    if (!pdf_) {
        auto image = picture(page);
        if (!scalePictures || qFuzzyCompare(dpi, 72.0) || image.isNull()) return image;
        return image.scaled((QSizeF(image.size()) * dpi / 72.0).toSize(), Qt::KeepAspectRatio, Qt::SmoothTransformation);
    }
    const auto pixels = renderSize(page, dpi);
    if (pixels.isEmpty()) return {};
    QPdfDocumentRenderOptions options;
    options.setRenderFlags(QPdfDocumentRenderOptions::RenderFlag::Annotations);
    return flattenOntoWhite(pdf_->render(page, pixels, options));
}

QSize WorkspaceDocument::renderSize(int page, double dpi) const {
    if (page < 0 || page >= pageCount()) return {};
    if (!pdf_) return pictureSizes_[page];
    return (pdf_->pagePointSize(page) * dpi / 72.0).toSize();
}

QImage WorkspaceDocument::thumbnail(int page, int longestSide) const {
    const auto size = pageSize(page);
    if (size.isEmpty()) return {};
    const double scale = longestSide / std::max(size.width(), size.height());
    if (!pdf_) return picture(page).scaled((size * scale).toSize(), Qt::KeepAspectRatio, Qt::SmoothTransformation);
    return render(page, 72.0 * scale);
}

}  // namespace deepstack::ui

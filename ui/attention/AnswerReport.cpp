#include "attention/AnswerReport.h"

#include <QCoreApplication>
#include <QFileInfo>
#include <QPageSize>
#include <QPainter>
#include <QPdfWriter>
#include <QSaveFile>

#include <algorithm>
#include <utility>

namespace deepstack::ui {

namespace {
QString translated(const char* text) {
    return QCoreApplication::translate("AnswerReport", text);
}
}  // namespace

bool writeAnswerReport(const AnswerReportContent& content, const QString& file, QString* error) {
    // One A4 page at 150 dots per inch, drawn the same way into a PDF or a picture.
    const QSize page(1240, 1754);
    const auto paint = [&](QPainter& p) {
        p.setRenderHint(QPainter::Antialiasing);
        p.setRenderHint(QPainter::SmoothPixmapTransform);
        const int margin = 80, width = page.width() - 2 * margin;
        int y = margin;
        const auto block = [&](const QString& text, int pixelSize, bool bold, int height = 0) {
            QFont font = p.font();
            font.setPixelSize(pixelSize);
            font.setBold(bold);
            p.setFont(font);
            const QRect area(margin, y, width, height > 0 ? height : page.height());
            const auto used = p.boundingRect(area, Qt::TextWordWrap, text);
            p.drawText(area, Qt::TextWordWrap, text);
            y += std::min(used.height(), height > 0 ? height : used.height()) + pixelSize / 2;
        };
        block(translated("DeepStack Studio: an answer and where it looked"), 34, true);
        block(content.modelLine, 18, false);
        block(translated("Question"), 24, true);
        block(content.question, 20, false, 160);
        block(translated("Answer"), 24, true);
        block(content.answer, 20, false, 300);
        block(content.timingsLine, 18, false);
        block(content.attentionTitle, 20, true);
        const QRect pictures(margin, y, width, page.height() - margin - y);
        const QRect left(pictures.left(), pictures.top(), pictures.width() * 62 / 100, pictures.height());
        const QRect right(left.right() + 20, pictures.top(), pictures.right() - left.right() - 20, pictures.height());
        for (const auto& [image, area] : {std::pair{content.view, left}, std::pair{content.stackMap, right}}) {
            if (image.isNull()) continue;
            const auto fitted = QSizeF(image.size()).scaled(QSizeF(area.size()), Qt::KeepAspectRatio);
            p.drawImage(QRectF(QPointF(area.left(), area.top()), fitted), image);
        }
    };
    if (file.endsWith(".pdf", Qt::CaseInsensitive)) {
        QPdfWriter writer(file);
        writer.setPageSize(QPageSize(QPageSize::A4));
        writer.setPageMargins({});
        writer.setResolution(150);
        writer.setTitle(translated("DeepStack Studio answer report"));
        QPainter painter;
        if (!painter.begin(&writer)) {
            if (error != nullptr) *error = translated("%1 could not be written").arg(file);
            return false;
        }
        paint(painter);
        painter.end();
        if (!QFileInfo(file).exists() || QFileInfo(file).size() == 0) {
            if (error != nullptr) *error = translated("%1 could not be written").arg(file);
            return false;
        }
        return true;
    }
    QImage image(page, QImage::Format_RGB32);
    image.fill(Qt::white);
    {
        QPainter painter(&image);
        paint(painter);
    }
    QSaveFile out(file);
    if (!out.open(QIODevice::WriteOnly) || !image.save(&out, "PNG") || !out.commit()) {
        if (error != nullptr) *error = translated("%1 could not be written: %2").arg(file, out.errorString());
        return false;
    }
    return true;
}

}  // namespace deepstack::ui

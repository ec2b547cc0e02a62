#include "attention/HeatmapView.h"

#include <QPainter>

#include "deepstack/attention.h"

namespace deepstack::ui {

namespace {
constexpr int kScaleWidth = 14;
constexpr int kScaleGap = 66;  // room for the numbers
constexpr int kCaption = 20;
}  // namespace

HeatmapView::HeatmapView(QWidget* parent) : QWidget(parent) {
    setObjectName("heatmapView");
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
    setMinimumSize(200, 160);
    message_ = tr("No attention recorded yet.");
}

void HeatmapView::setHeatmap(const QImage& heatmap, double scaleTop, const QString& caption) {
    heatmap_ = heatmap;
    scaleTop_ = scaleTop;
    caption_ = caption;
    message_.clear();
    update();
}

void HeatmapView::clear(const QString& message) {
    heatmap_ = {};
    caption_.clear();
    message_ = message;
    update();
}

QImage HeatmapView::renderView(const QSize& size) const {
    QImage image(size, QImage::Format_RGB32);
    image.fill(Qt::white);
    QPainter painter(&image);
    painter.setRenderHint(QPainter::Antialiasing);
    painter.setRenderHint(QPainter::SmoothPixmapTransform);
    paintInto(painter, QRect(QPoint(0, 0), size));
    return image;
}

void HeatmapView::paintEvent(QPaintEvent*) {
    QPainter painter(this);
    painter.setRenderHint(QPainter::SmoothPixmapTransform);
    painter.fillRect(rect(), palette().base());
    paintInto(painter, rect());
}

void HeatmapView::paintInto(QPainter& p, const QRect& area) const {
    if (heatmap_.isNull()) {
        p.setPen(palette().color(QPalette::PlaceholderText));
        p.drawText(area.adjusted(12, 12, -12, -12), Qt::AlignCenter | Qt::TextWordWrap, message_);
        return;
    }
    const QRect picture_area = area.adjusted(6, kCaption + 4, -(kScaleWidth + kScaleGap), -6);
    const QSize fitted = heatmap_.size().scaled(picture_area.size(), Qt::KeepAspectRatio);
    const QRect target(picture_area.left() + (picture_area.width() - fitted.width()) / 2, picture_area.top(), fitted.width(), fitted.height());
    p.drawImage(target, heatmap_);
    p.setPen(QColor(160, 160, 160));
    p.drawRect(target.adjusted(0, 0, -1, -1));

    p.setPen(Qt::black);
    p.drawText(QRect(area.left() + 6, area.top() + 2, area.width() - 12, kCaption), Qt::AlignLeft | Qt::AlignVCenter, caption_);

    // The colour scale, top = scaleTop_.
    const QRect scale(target.right() + 12, target.top(), kScaleWidth, std::max(40, target.height()));
    for (int y = 0; y < scale.height(); ++y) {
        const auto c = heat_colour(1.0 - static_cast<double>(y) / std::max(1, scale.height() - 1));
        p.setPen(QColor(c[0], c[1], c[2]));
        p.drawLine(scale.left(), scale.top() + y, scale.right(), scale.top() + y);
    }
    p.setPen(QColor(120, 120, 120));
    p.drawRect(scale.adjusted(0, 0, -1, -1));
    p.setPen(Qt::black);
    const auto label = [&](double value, int y) {
        p.drawText(QRect(scale.right() + 4, y - 8, kScaleGap - 6, 16), Qt::AlignLeft | Qt::AlignVCenter, QString::number(100.0 * value, 'g', 3) + "%");
    };
    label(scaleTop_, scale.top() + 6);
    label(scaleTop_ / 2, scale.center().y());
    label(0, scale.bottom() - 6);
}

}  // namespace deepstack::ui

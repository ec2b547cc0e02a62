#include "attention/HeatmapView.h"

#include <QCoreApplication>
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
    ++generation_;
    queued_.reset();
    display(heatmap, scaleTop, caption);
}

void HeatmapView::display(const QImage& heatmap, double scaleTop, const QString& caption) {
    heatmap_ = heatmap;
    scaleTop_ = scaleTop;
    caption_ = caption;
    message_.clear();
    update();
}

HeatmapView::~HeatmapView() {
    // The worker posts its result to this object: it must be done before the object goes.
    queued_.reset();
    if (running_.valid()) running_.wait();
}

void HeatmapView::compose(std::function<QImage()> draw, double scaleTop, const QString& caption) {
    queued_ = Request{std::move(draw), scaleTop, caption, ++generation_};
    if (!running_.valid()) startQueued();
}

void HeatmapView::startQueued() {
    if (!queued_) return;
    auto request = std::move(*queued_);
    queued_.reset();
    running_ = std::async(std::launch::async, [this, request = std::move(request)] {
        QImage image;
        QString error;
        try {
            image = request.draw();
        } catch (const std::exception& e) {
            error = QString::fromUtf8(e.what());
        } catch (...) {  // finished() must come whatever the draw threw, or the view waits for it for ever
            error = tr("The heatmap could not be drawn.");
        }
        QMetaObject::invokeMethod(this, [this, request, image, error] { finished(request, image, error); }, Qt::QueuedConnection);
    });
}

void HeatmapView::finished(const Request& request, const QImage& image, const QString& error) {
    running_ = {};
    if (request.generation == generation_) {
        if (error.isEmpty()) display(image, request.scaleTop, request.caption);
        else displayMessage(error);
        Q_EMIT heatmapShown();
    }
    startQueued();
}

void HeatmapView::waitForComposition() {
    while (running_.valid()) {
        running_.wait();
        QCoreApplication::sendPostedEvents(this, QEvent::MetaCall);  // finished(), which may start the next
    }
}

void HeatmapView::clear(const QString& message) {
    ++generation_;
    queued_.reset();
    displayMessage(message);
}

void HeatmapView::displayMessage(const QString& message) {
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

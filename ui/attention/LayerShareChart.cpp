#include "attention/LayerShareChart.h"

#include <QMouseEvent>
#include <QPainter>

#include <algorithm>

namespace deepstack::ui {

LayerShareChart::LayerShareChart(QWidget* parent) : QWidget(parent) {
    setObjectName("layerShareChart");
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
    setFixedHeight(110);
}

void LayerShareChart::setBars(std::vector<Bar> bars) {
    bars_ = std::move(bars);
    update();
}

void LayerShareChart::setSelectedLayer(int layer) {
    selected_ = layer;
    update();
}

QRectF LayerShareChart::plotArea() const { return QRectF(40, 20, width() - 48, height() - 40); }

QRectF LayerShareChart::barRect(std::size_t index) const {
    const auto area = plotArea();
    const double slot = area.width() / static_cast<double>(std::max<std::size_t>(1, bars_.size()));
    return QRectF(area.left() + static_cast<double>(index) * slot + slot * 0.12, area.top(), slot * 0.76, area.height());
}

void LayerShareChart::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.fillRect(rect(), palette().base());
    p.setPen(palette().color(QPalette::Text));
    p.drawText(QRectF(6, 0, width() - 12, 18), Qt::AlignLeft | Qt::AlignVCenter,
               bars_.empty() ? tr("Share of attention on the picture, per layer") : tr("Share of attention on the picture (orange) vs. text (grey), per layer"));
    const auto area = plotArea();
    p.setPen(QColor(150, 150, 150));
    p.drawText(QRectF(0, area.top() - 7, 36, 14), Qt::AlignRight | Qt::AlignVCenter, "100%");
    p.drawText(QRectF(0, area.bottom() - 7, 36, 14), Qt::AlignRight | Qt::AlignVCenter, "0%");
    for (std::size_t i = 0; i < bars_.size(); ++i) {
        const auto& bar = bars_[i];
        const auto r = barRect(i);
        p.fillRect(r, QColor(215, 215, 215));
        const double h = std::clamp(bar.image, 0.0, 1.0) * r.height();
        p.fillRect(QRectF(r.left(), r.bottom() - h, r.width(), h), QColor(245, 124, 0));
        if (bar.layer == selected_) {
            p.setPen(QPen(palette().color(QPalette::Highlight), 2));
            p.drawRect(r.adjusted(-2, -2, 2, 2));
        }
        p.setPen(bar.stacked ? QColor(0, 121, 107) : palette().color(QPalette::Text));
        if (bars_.size() <= 40 || i % 2 == 0)
            p.drawText(QRectF(r.left() - 6, area.bottom() + 2, r.width() + 12, 16), Qt::AlignCenter,
                       bar.stacked ? QString("%1*").arg(bar.layer) : QString::number(bar.layer));
    }
}

void LayerShareChart::mousePressEvent(QMouseEvent* event) {
    for (std::size_t i = 0; i < bars_.size(); ++i) {
        const auto r = barRect(i).adjusted(-3, 0, 3, 20);
        if (r.contains(event->position())) {
            setSelectedLayer(bars_[i].layer);
            Q_EMIT layerClicked(bars_[i].layer);
            return;
        }
    }
}

}  // namespace deepstack::ui

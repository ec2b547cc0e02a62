// The picture with the attention heatmap over it, fitted to the widget, and the colour scale beside it.
#pragma once

#include <QImage>
#include <QWidget>

namespace deepstack::ui {

class HeatmapView : public QWidget {
    Q_OBJECT
public:
    explicit HeatmapView(QWidget* parent = nullptr);

    // `scaleTop`: the value at the top of the colour scale (a share of the attention, 0..1).
    void setHeatmap(const QImage& heatmap, double scaleTop, const QString& caption);
    void clear(const QString& message);
    const QImage& heatmap() const { return heatmap_; }
    // The view as shown (picture, scale and caption), for export.
    QImage renderView(const QSize& size) const;

    QSize sizeHint() const override { return {520, 420}; }

protected:
    void paintEvent(QPaintEvent* event) override;

private:
    void paintInto(QPainter& painter, const QRect& area) const;

    QImage heatmap_;
    double scaleTop_ = 0;
    QString caption_, message_;
};

}  // namespace deepstack::ui

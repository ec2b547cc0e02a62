// The picture with the attention heatmap over it, fitted to the widget, and the colour scale beside it. A heatmap
// at a page's full resolution takes tens of milliseconds to composite, so compose() runs it on a worker thread and
// shows the newest result; requests made meanwhile collapse into the latest.
#pragma once

#include <functional>
#include <future>
#include <optional>

#include <QImage>
#include <QWidget>

namespace deepstack::ui {

class HeatmapView : public QWidget {
    Q_OBJECT
public:
    explicit HeatmapView(QWidget* parent = nullptr);
    ~HeatmapView() override;

    // `scaleTop`: the value at the top of the colour scale (a share of the attention, 0..1).
    void setHeatmap(const QImage& heatmap, double scaleTop, const QString& caption);
    // `draw` runs on a worker thread: it must own (or share) everything it reads. An exception it throws becomes
    // the view's message.
    void compose(std::function<QImage()> draw, double scaleTop, const QString& caption);
    void clear(const QString& message);
    // What is shown; while a composition is under way, the previous heatmap (see waitForComposition).
    const QImage& heatmap() const { return heatmap_; }
    const QString& message() const { return message_; }  // shown in place of a heatmap; empty when one is shown
    bool isComposing() const { return running_.valid() || queued_.has_value(); }
    // Blocks until the latest request is shown (exports, tests).
    void waitForComposition();

    // The view as shown (picture, scale and caption), for export.
    QImage renderView(const QSize& size) const;

    QSize sizeHint() const override { return {520, 420}; }

Q_SIGNALS:
    void heatmapShown();  // a composition finished and is shown (or its error)

protected:
    void paintEvent(QPaintEvent* event) override;

private:
    struct Request {
        std::function<QImage()> draw;
        double scaleTop = 0;
        QString caption;
        quint64 generation = 0;
    };
    void paintInto(QPainter& painter, const QRect& area) const;
    void display(const QImage& heatmap, double scaleTop, const QString& caption);
    void displayMessage(const QString& message);
    void startQueued();
    void finished(const Request& request, const QImage& image, const QString& error);

    std::optional<Request> queued_;
    std::future<void> running_;
    quint64 generation_ = 0;  // bumped by every compose() and clear(): older results are dropped

    QImage heatmap_;
    double scaleTop_ = 0;
    QString caption_, message_;
};

}  // namespace deepstack::ui

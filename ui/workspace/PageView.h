// One page, large: rendered sharp at the zoom (PDF pages re-render; pictures scale), Ctrl+wheel zooms,
// dragging pans.
#pragma once

#include <QGraphicsView>

class QGraphicsPixmapItem;

namespace deepstack::ui {

class WorkspaceDocument;

class PageView : public QGraphicsView {
    Q_OBJECT
public:
    explicit PageView(QWidget* parent = nullptr);

    // `document` must outlive the view's use of it (clear() before closing it).
    void showPage(const WorkspaceDocument* document, int page);
    void clearPage();
    double zoom() const { return zoom_; }
    void setZoom(double zoom);  // 1.0: 96 pixels per inch of paper
    void zoomIn() { setZoom(zoom_ * 1.25); }
    void zoomOut() { setZoom(zoom_ / 1.25); }
    void fitWidth();
    bool hasPage() const { return document_ != nullptr; }

Q_SIGNALS:
    void zoomChanged(double zoom);

protected:
    void wheelEvent(QWheelEvent* event) override;

private:
    void rerender();

    const WorkspaceDocument* document_ = nullptr;
    int page_ = 0;
    double zoom_ = 1.0;
    QGraphicsPixmapItem* item_ = nullptr;
};

}  // namespace deepstack::ui

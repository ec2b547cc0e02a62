#include "workspace/PageView.h"

#include <QGraphicsPixmapItem>
#include <QGraphicsScene>
#include <QScrollBar>
#include <QWheelEvent>

#include "workspace/WorkspaceDocument.h"

namespace deepstack::ui {

namespace {
constexpr double kScreenDpi = 96.0;
}

PageView::PageView(QWidget* parent) : QGraphicsView(parent) {
    setObjectName("pageView");
    setScene(new QGraphicsScene(this));
    setDragMode(QGraphicsView::ScrollHandDrag);
    setBackgroundBrush(QColor(0x52, 0x56, 0x5c));
    setAlignment(Qt::AlignHCenter | Qt::AlignTop);
    item_ = scene()->addPixmap({});
}

void PageView::showPage(const WorkspaceDocument* document, int page) {
    const bool first = document_ == nullptr;
    document_ = document;
    page_ = page;
    if (first) fitWidth();
    else rerender();
}

void PageView::clearPage() {
    document_ = nullptr;
    item_->setPixmap({});
    scene()->setSceneRect({});
}

void PageView::setZoom(double zoom) {
    zoom_ = std::clamp(zoom, 0.1, 8.0);
    rerender();
    Q_EMIT zoomChanged(zoom_);
}

void PageView::fitWidth() {
    if (!document_) return;
    const auto size = document_->pageSize(page_);
    const double widthInches = document_->isPdf() ? size.width() / 72.0 : size.width() / kScreenDpi;
    if (widthInches <= 0) return;
    setZoom((viewport()->width() - 24) / (widthInches * kScreenDpi));
}

void PageView::rerender() {
    if (!document_) return;
    const double ratio = devicePixelRatioF();
    // Pictures count 96 pixels per inch at zoom 1, PDF pages their printed size.
    const double dpi = document_->isPdf() ? kScreenDpi * zoom_ * ratio : 72.0 * zoom_ * ratio;
    auto image = document_->render(page_, dpi, true);
    image.setDevicePixelRatio(ratio);
    item_->setPixmap(QPixmap::fromImage(image));
    scene()->setSceneRect(item_->boundingRect().adjusted(-12, -12, 12, 12));
}

void PageView::wheelEvent(QWheelEvent* event) {
    if (event->modifiers() & Qt::ControlModifier) {
        if (event->angleDelta().y() > 0) zoomIn();
        else if (event->angleDelta().y() < 0) zoomOut();
        event->accept();
        return;
    }
    QGraphicsView::wheelEvent(event);
}

}  // namespace deepstack::ui

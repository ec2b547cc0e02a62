#include "workspace/PageView.h"

#include <QGraphicsEllipseItem>
#include <QGraphicsPixmapItem>
#include <QGraphicsRectItem>
#include <QGraphicsScene>
#include <QGraphicsSimpleTextItem>
#include <QPainter>
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
    drawMarks();
}

QColor PageView::markColour(int index) {
    static const QColor kColours[] = {QColor(0xe6, 0x19, 0x4b), QColor(0x3c, 0xb4, 0x4b), QColor(0x43, 0x63, 0xd8), QColor(0xf5, 0x82, 0x31),
                                      QColor(0x91, 0x1e, 0xb4), QColor(0x42, 0xd4, 0xf4), QColor(0xf0, 0x32, 0xe6), QColor(0x9a, 0x63, 0x24)};
    return kColours[index % 8];
}

void PageView::setMarks(const QString& path, int page, const QList<PageMark>& marks) {
    marksPath_ = path;
    marksPage_ = page;
    marks_ = marks;
    highlighted_ = -1;
    drawMarks();
}

void PageView::highlightMark(int index) {
    highlighted_ = index >= 0 && index < marks_.size() ? index : -1;
    drawMarks();
    if (highlighted_ >= 0 && marksShown()) {
        const auto size = item_->boundingRect().size();
        const auto& region = marks_[highlighted_].region;
        ensureVisible(QRectF(region.left() * size.width(), region.top() * size.height(), region.width() * size.width(),
                             region.height() * size.height()).adjusted(-20, -40, 20, 20));
    }
}

namespace {
// One mark in the coordinates of a page `size` large: its outline (or dot) and label, drawn with `painter`.
void paintMark(QPainter& painter, const PageMark& mark, const QSizeF& size, const QColor& colour, bool highlighted) {
    const QRectF r(mark.region.left() * size.width(), mark.region.top() * size.height(), mark.region.width() * size.width(),
                   mark.region.height() * size.height());
    painter.setPen(QPen(colour, highlighted ? 4 : 2));
    painter.setBrush(QColor(colour.red(), colour.green(), colour.blue(), highlighted ? 60 : 25));
    if (mark.point()) painter.drawEllipse(r.topLeft(), 6, 6);
    else painter.drawRect(r);
    if (mark.label.isEmpty()) return;
    const QFontMetricsF metrics(painter.font());
    const QRectF tag(r.left(), std::max(0.0, r.top() - metrics.height() - 2), metrics.horizontalAdvance(mark.label) + 8, metrics.height() + 2);
    painter.fillRect(tag, colour);
    painter.setPen(Qt::white);
    painter.drawText(tag, Qt::AlignCenter, mark.label);
}
}  // namespace

void PageView::drawMarks() {
    for (auto* item : markItems_) delete item;
    markItems_.clear();
    if (document_ == nullptr || document_->path() != marksPath_ || page_ != marksPage_) return;
    const auto size = item_->boundingRect().size();
    for (int i = 0; i < marks_.size(); ++i) {
        // Each mark as a picture of its own over the page, so that it is drawn exactly as the export draws it.
        const auto& mark = marks_[i];
        const auto colour = markColour(i);
        const QRectF r(mark.region.left() * size.width(), mark.region.top() * size.height(), mark.region.width() * size.width(),
                       mark.region.height() * size.height());
        QGraphicsItem* shape = nullptr;
        if (mark.point()) shape = scene()->addEllipse(r.left() - 6, r.top() - 6, 12, 12, QPen(colour, i == highlighted_ ? 4 : 2), QColor(colour.red(), colour.green(), colour.blue(), 90));
        else shape = scene()->addRect(r, QPen(colour, i == highlighted_ ? 4 : 2), QColor(colour.red(), colour.green(), colour.blue(), i == highlighted_ ? 60 : 25));
        shape->setToolTip(mark.label);
        shape->setZValue(1);
        markItems_.append(shape);
        if (!mark.label.isEmpty()) {
            auto* label = scene()->addSimpleText(mark.label);
            label->setBrush(Qt::white);
            const auto box = label->boundingRect();
            auto* tag = scene()->addRect(QRectF(0, 0, box.width() + 8, box.height() + 2), Qt::NoPen, colour);
            tag->setPos(r.left(), std::max(0.0, r.top() - box.height() - 2));
            tag->setZValue(2);
            label->setParentItem(tag);
            label->setPos(4, 1);
            markItems_.append(tag);
        }
    }
}

QImage PageView::pageWithMarks(double dpi) const {
    if (document_ == nullptr) return {};
    auto image = document_->render(page_, dpi).convertToFormat(QImage::Format_RGB32);
    if (image.isNull() || document_->path() != marksPath_ || page_ != marksPage_) return image;
    QPainter painter(&image);
    painter.setRenderHint(QPainter::Antialiasing);
    auto font = painter.font();
    font.setPixelSize(std::max(12, image.height() / 60));
    painter.setFont(font);
    for (int i = 0; i < marks_.size(); ++i) paintMark(painter, marks_[i], image.size(), markColour(i), i == highlighted_);
    return image;
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
    drawMarks();
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

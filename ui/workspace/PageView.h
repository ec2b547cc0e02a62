// One page, large: rendered sharp at the zoom (PDF pages re-render; pictures scale), Ctrl+wheel zooms,
// dragging pans.
#pragma once

#include <QGraphicsView>
#include <QList>
#include <QRectF>

class QGraphicsItem;
class QGraphicsPixmapItem;

namespace deepstack::ui {

class WorkspaceDocument;

// A box or a point the model named on a page, in fractions of the page's width and height.
struct PageMark {
    QRectF region;  // a point: an empty rectangle at it
    QString label;
    bool point() const { return region.width() <= 0 && region.height() <= 0; }
};

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

    // Boxes and points drawn over page `page` of the document at `path` whenever it is on screen (one page's at a
    // time; an empty list clears them). Each has its own colour; the highlighted one is drawn thicker.
    void setMarks(const QString& path, int page, const QList<PageMark>& marks);
    void highlightMark(int index);
    const QList<PageMark>& marks() const { return marks_; }
    int highlightedMark() const { return highlighted_; }
    bool marksShown() const { return !markItems_.isEmpty(); }
    // The page on screen at `dpi` with the marks drawn on it (for export); a null image without a page.
    QImage pageWithMarks(double dpi) const;
    static QColor markColour(int index);

Q_SIGNALS:
    void zoomChanged(double zoom);

protected:
    void wheelEvent(QWheelEvent* event) override;

private:
    void rerender();
    void drawMarks();

    const WorkspaceDocument* document_ = nullptr;
    int page_ = 0;
    double zoom_ = 1.0;
    QGraphicsPixmapItem* item_ = nullptr;
    QString marksPath_;
    int marksPage_ = -1;
    QList<PageMark> marks_;
    int highlighted_ = -1;
    QList<QGraphicsItem*> markItems_;
};

}  // namespace deepstack::ui

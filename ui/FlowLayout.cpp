#include "FlowLayout.h"

#include <QWidget>

#include <algorithm>

namespace deepstack::ui {

FlowLayout::FlowLayout(QWidget* parent, int spacing) : QLayout(parent), gap_(spacing) { setContentsMargins(0, 0, 0, 0); }

FlowLayout::~FlowLayout() {
    while (auto* item = takeAt(0)) delete item;
}

void FlowLayout::addItem(QLayoutItem* item) { items_.append(item); }

QLayoutItem* FlowLayout::takeAt(int index) {
    if (index < 0 || index >= items_.size()) return nullptr;
    return items_.takeAt(index);
}

// The widest single item: narrower than that, nothing can wrap any further.
QSize FlowLayout::minimumSize() const {
    QSize size;
    for (const auto* item : items_) size = size.expandedTo(item->minimumSize());
    const auto m = contentsMargins();
    return size + QSize(m.left() + m.right(), m.top() + m.bottom());
}

void FlowLayout::setGeometry(const QRect& rect) {
    QLayout::setGeometry(rect);
    (void)arrange(rect, true);
}

int FlowLayout::arrange(const QRect& area, bool place) const {
    const auto m = contentsMargins();
    const QRect inner = area.adjusted(m.left(), m.top(), -m.right(), -m.bottom());
    int x = inner.x(), y = inner.y(), rowHeight = 0;
    for (auto* item : items_) {
        if (item->widget() != nullptr && !item->widget()->isVisibleTo(parentWidget())) continue;
        const QSize hint = item->sizeHint();
        if (x > inner.x() && x + hint.width() > inner.right() + 1) {  // does not fit after the others: a new row
            x = inner.x();
            y += rowHeight + gap_;
            rowHeight = 0;
        }
        if (place) item->setGeometry(QRect(QPoint(x, y), hint));
        x += hint.width() + gap_;
        rowHeight = std::max(rowHeight, hint.height());
    }
    return y + rowHeight - area.y() + m.bottom();
}

}  // namespace deepstack::ui

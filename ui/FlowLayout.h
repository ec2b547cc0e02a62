// Widgets laid out left to right, wrapping onto a new row when the next one does not fit: a row of suggested
// questions that grows downwards instead of forcing the window wider.
#pragma once

#include <QLayout>
#include <QList>

namespace deepstack::ui {

class FlowLayout : public QLayout {
public:
    explicit FlowLayout(QWidget* parent = nullptr, int spacing = 6);
    ~FlowLayout() override;

    void addItem(QLayoutItem* item) override;
    int count() const override { return static_cast<int>(items_.size()); }
    QLayoutItem* itemAt(int index) const override { return items_.value(index); }
    QLayoutItem* takeAt(int index) override;

    Qt::Orientations expandingDirections() const override { return {}; }
    bool hasHeightForWidth() const override { return true; }
    int heightForWidth(int width) const override { return arrange(QRect(0, 0, width, 0), false); }
    QSize minimumSize() const override;
    QSize sizeHint() const override { return minimumSize(); }
    void setGeometry(const QRect& rect) override;

private:
    // Places the items in `area` (or only measures, when `place` is false); returns the height they take.
    int arrange(const QRect& area, bool place) const;

    QList<QLayoutItem*> items_;
    int gap_;
};

}  // namespace deepstack::ui

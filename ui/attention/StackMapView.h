// The stack map: the language model's layers bottom to top, the visual tokens entering at the input, and each
// stacked group drawn where it enters, with its 2-D sampling pattern on a thumbnail of the picture. Clicking a
// layer (or a group's thumbnail) selects that layer.
#pragma once

#include <QImage>
#include <QStringList>
#include <QWidget>

#include <optional>

#include "deepstack/stack_plan.h"

namespace deepstack::ui {

class StackMapView : public QWidget {
    Q_OBJECT
public:
    explicit StackMapView(QWidget* parent = nullptr);

    void setPlan(const StackPlan& plan, const QImage& picture);
    // A line under each group's thumbnail (the injection map's measure where it joins, once measured); cleared by
    // setPlan for another picture or model.
    void setGroupNotes(const QStringList& notes);
    const QStringList& groupNotes() const { return notes_; }
    void clear();
    bool hasPlan() const { return plan_.has_value(); }
    void setSelectedLayer(int layer);
    int selectedLayer() const { return selected_; }

    static QColor groupColour(std::size_t group);
    QSize sizeHint() const override { return {300, 420}; }
    QSize minimumSizeHint() const override { return {220, 240}; }

    // Where layer `layer`'s row is drawn (for tests and clicks).
    QRectF layerRect(int layer) const;

Q_SIGNALS:
    void layerClicked(int layer);

protected:
    void paintEvent(QPaintEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;

private:
    struct Geometry {
        QRectF tower, input, thumbs;
        double row = 0;
    };
    Geometry geometry() const;
    QRectF thumbRect(std::size_t index, std::size_t count) const;

    std::optional<StackPlan> plan_;
    QImage picture_;
    int selected_ = -1;
    QStringList notes_;
};

}  // namespace deepstack::ui

// Per layer, how much of the chosen tokens' attention went to the picture and how much elsewhere (text): a bar per
// layer, bottom layer on the left. Clicking a bar selects that layer.
#pragma once

#include <QWidget>

#include <vector>

namespace deepstack::ui {

class LayerShareChart : public QWidget {
    Q_OBJECT
public:
    explicit LayerShareChart(QWidget* parent = nullptr);

    struct Bar {
        int layer = 0;
        double image = 0;      // share on the picture, 0..1
        bool stacked = false;  // a group enters at this layer
    };
    void setBars(std::vector<Bar> bars);
    const std::vector<Bar>& bars() const { return bars_; }
    void setSelectedLayer(int layer);

    QSize sizeHint() const override { return {400, 110}; }
    QSize minimumSizeHint() const override { return {200, 90}; }

Q_SIGNALS:
    void layerClicked(int layer);

protected:
    void paintEvent(QPaintEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;

private:
    QRectF barRect(std::size_t index) const;
    QRectF plotArea() const;

    std::vector<Bar> bars_;
    int selected_ = -1;
};

}  // namespace deepstack::ui

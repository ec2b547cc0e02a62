#include "attention/StackMapView.h"

#include <QMouseEvent>
#include <QPainter>

#include <algorithm>

namespace deepstack::ui {

namespace {
constexpr double kMargin = 8;
constexpr double kInputHeight = 34;
}  // namespace

StackMapView::StackMapView(QWidget* parent) : QWidget(parent) {
    setObjectName("stackMap");
    setMouseTracking(false);
    setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Expanding);
}

QColor StackMapView::groupColour(std::size_t group) {
    static const QColor colours[] = {QColor(0, 150, 136), QColor(233, 30, 99), QColor(63, 81, 181), QColor(255, 152, 0),
                                     QColor(139, 195, 74), QColor(156, 39, 176), QColor(0, 172, 193), QColor(121, 85, 72)};
    return colours[group % std::size(colours)];
}

void StackMapView::setGroupNotes(const QStringList& notes) {
    notes_ = notes;
    update();
}

void StackMapView::setPlan(const StackPlan& plan, const QImage& picture) {
    // The notes belong to the measured picture's plan: another picture or model clears them, the same one again not.
    if (!plan_ || plan_->variant != plan.variant || plan_->groups.size() != plan.groups.size() || plan_->image_width != plan.image_width ||
        plan_->image_height != plan.image_height)
        notes_.clear();
    plan_ = plan;
    picture_ = picture.isNull() ? QImage() : picture.scaled(160, 160, Qt::KeepAspectRatio, Qt::SmoothTransformation);
    if (selected_ >= plan.language_layers) selected_ = -1;
    update();
}

void StackMapView::clear() {
    plan_.reset();
    picture_ = {};
    selected_ = -1;
    update();
}

void StackMapView::setSelectedLayer(int layer) {
    if (layer == selected_) return;
    selected_ = layer;
    update();
}

StackMapView::Geometry StackMapView::geometry() const {
    Geometry g;
    const double width = this->width(), height = this->height();
    const double thumbs = std::min(130.0, width * 0.36);
    g.thumbs = QRectF(width - thumbs - kMargin, kMargin + 18, thumbs, height - 2 * kMargin - 18);
    g.input = QRectF(kMargin, height - kMargin - kInputHeight, g.thumbs.left() - 3 * kMargin, kInputHeight);
    const auto layers = plan_ ? std::max<std::int64_t>(1, plan_->language_layers) : 1;
    g.tower = QRectF(kMargin, kMargin + 18, g.input.width(), g.input.top() - kMargin - (kMargin + 18));
    g.row = g.tower.height() / static_cast<double>(layers);
    return g;
}

QRectF StackMapView::layerRect(int layer) const {
    const auto g = geometry();
    // Layer 0 at the bottom, as the tokens flow.
    return QRectF(g.tower.left(), g.tower.bottom() - (layer + 1) * g.row, g.tower.width(), g.row);
}

QRectF StackMapView::thumbRect(std::size_t index, std::size_t count) const {
    const auto g = geometry();
    const double slot = g.thumbs.height() / static_cast<double>(std::max<std::size_t>(1, count));
    const double side = std::min({g.thumbs.width(), slot - (notes_.isEmpty() ? 16.0 : 30.0), 110.0});  // room for a note under it
    // Bottom to top like the layers: group 1 lowest.
    const double top = g.thumbs.bottom() - (static_cast<double>(index) + 1) * slot + 14;
    return QRectF(g.thumbs.left() + (g.thumbs.width() - side) / 2, top, side, side);
}

void StackMapView::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    p.fillRect(rect(), palette().base());
    if (!plan_) {
        p.setPen(palette().color(QPalette::PlaceholderText));
        p.drawText(rect().adjusted(12, 12, -12, -12), Qt::AlignCenter | Qt::TextWordWrap,
                   tr("Load a model and pick a page to see where its visual tokens enter the model."));
        return;
    }
    const auto& plan = *plan_;
    const auto g = geometry();
    p.setPen(palette().color(QPalette::Text));
    QFont bold = font();
    bold.setBold(true);
    p.setFont(bold);
    p.drawText(QRectF(kMargin, 2, width() - 2 * kMargin, 18), Qt::AlignLeft | Qt::AlignVCenter,
               tr("%1 · %2 language layers").arg(QString::fromStdString(plan.variant)).arg(plan.language_layers));
    p.setFont(font());

    // Layers.
    QFont small = font();
    small.setPointSizeF(std::max(6.0, std::min(font().pointSizeF(), g.row * 0.45)));
    p.setFont(small);
    for (int l = 0; l < plan.language_layers; ++l) {
        const auto r = layerRect(l).adjusted(0, 1, 0, -1);
        const auto* group = plan.group_seen_first_at(l);
        QColor fill = l % 2 ? QColor(245, 245, 245) : QColor(235, 235, 235);
        if (group != nullptr) fill = groupColour(static_cast<std::size_t>(group - plan.groups.data())).lighter(165);
        if (l == selected_) fill = palette().color(QPalette::Highlight);
        p.fillRect(r, fill);
        p.setPen(l == selected_ ? palette().color(QPalette::HighlightedText) : palette().color(QPalette::Text));
        QString text = tr("layer %1").arg(l);
        if (group != nullptr) text += tr("  ← group %1").arg(group - plan.groups.data() + 1);
        if (g.row >= 9) p.drawText(r.adjusted(6, 0, -4, 0), Qt::AlignLeft | Qt::AlignVCenter, text);
    }

    // The input: the low-resolution (or all, for Qwen3-VL) visual tokens enter before layer 0.
    p.fillRect(g.input, QColor(255, 243, 224));
    p.setPen(palette().color(QPalette::Text));
    p.drawText(g.input.adjusted(6, 0, -4, 0), Qt::AlignLeft | Qt::AlignVCenter | Qt::TextWordWrap,
               tr("input: %1 tokens (%2×%3%4)")
                   .arg(plan.input_tokens())
                   .arg(plan.input_rows)
                   .arg(plan.input_columns)
                   .arg(plan.variant == "DeepStack-L-HD" ? tr(" + crops") : QString()));

    // Groups: a thumbnail each, with the cells it carries, tied to the layer it enters.
    const auto count = plan.groups.size();
    for (std::size_t i = 0; i < count; ++i) {
        const auto& group = plan.groups[i];
        const auto colour = groupColour(i);
        const auto thumb = thumbRect(i, count);
        QRectF picture = thumb;
        if (!picture_.isNull()) {
            const QSizeF size = QSizeF(picture_.size()).scaled(thumb.size(), Qt::KeepAspectRatio);
            picture = QRectF(thumb.center() - QPointF(size.width() / 2, size.height() / 2), size);
            p.drawImage(picture, picture_);
            p.fillRect(picture, QColor(255, 255, 255, 110));  // fade, so the sampled cells stand out
        } else {
            p.fillRect(picture, QColor(250, 250, 250));
        }
        p.setPen(QPen(colour, 1.5));
        p.drawRect(picture);
        QColor cell = colour;
        cell.setAlpha(210);
        for (const auto& region : group.regions) {
            if (region.empty()) continue;
            const QRectF r(picture.left() + region.left * picture.width(), picture.top() + region.top * picture.height(),
                           std::max(1.0, (region.right - region.left) * picture.width()),
                           std::max(1.0, (region.bottom - region.top) * picture.height()));
            p.fillRect(r, cell);
        }
        p.setPen(palette().color(QPalette::Text));
        p.setFont(small);
        const QString where = group.tower == Tower::vision ? tr("ViT %1").arg(group.layer)
                              : group.before_layer         ? tr("→ layer %1").arg(group.layer)
                                                           : tr("after %1").arg(group.layer);
        p.drawText(QRectF(thumb.left() - 12, thumb.top() - 14, thumb.width() + 24, 13), Qt::AlignCenter,
                   group.ever_added ? tr("group %1 %2").arg(i + 1).arg(where) : tr("group %1: zeros").arg(i + 1));
        if (i < static_cast<std::size_t>(notes_.size()) && !notes_[static_cast<qsizetype>(i)].isEmpty())
            p.drawText(QRectF(thumb.left() - 12, thumb.bottom() + 1, thumb.width() + 24, 13), Qt::AlignCenter, notes_[static_cast<qsizetype>(i)]);
        // The connector to the layer whose attention first sees it.
        if (group.tower == Tower::language && group.ever_added && group.first_layer_seeing_it() < plan.language_layers) {
            const auto row = layerRect(static_cast<int>(group.first_layer_seeing_it()));
            p.setPen(QPen(colour, 1.6, Qt::SolidLine));
            const QPointF from(picture.left() - 2, picture.center().y()), to(row.right(), row.center().y());
            p.drawLine(from, QPointF((from.x() + to.x()) / 2, from.y()));
            p.drawLine(QPointF((from.x() + to.x()) / 2, from.y()), QPointF((from.x() + to.x()) / 2, to.y()));
            p.drawLine(QPointF((from.x() + to.x()) / 2, to.y()), to);
            p.setBrush(colour);
            p.drawEllipse(to, 3, 3);
            p.setBrush(Qt::NoBrush);
        }
    }
    if (plan.variant == "DeepStack-V") {
        p.setPen(palette().color(QPalette::PlaceholderText));
        p.drawText(QRectF(g.tower.left() + 8, g.tower.top() + 4, g.tower.width() - 16, 40), Qt::AlignLeft | Qt::TextWordWrap,
                   tr("DeepStack-V: the groups are added inside the vision tower; the language model sees the input only."));
    }
}

void StackMapView::mousePressEvent(QMouseEvent* event) {
    if (!plan_ || event->button() != Qt::LeftButton) return;
    const auto point = event->position();
    for (int l = 0; l < plan_->language_layers; ++l)
        if (layerRect(l).contains(point)) {
            setSelectedLayer(l);
            Q_EMIT layerClicked(l);
            return;
        }
    for (std::size_t i = 0; i < plan_->groups.size(); ++i) {
        const auto& group = plan_->groups[i];
        if (thumbRect(i, plan_->groups.size()).contains(point) && group.tower == Tower::language && group.ever_added &&
            group.first_layer_seeing_it() < plan_->language_layers) {
            const int layer = static_cast<int>(group.first_layer_seeing_it());
            setSelectedLayer(layer);
            Q_EMIT layerClicked(layer);
            return;
        }
    }
}

}  // namespace deepstack::ui

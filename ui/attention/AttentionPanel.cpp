#include "attention/AttentionPanel.h"

#include "RgbImages.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFile>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QPushButton>
#include <QSaveFile>
#include <QSlider>
#include <QSpinBox>
#include <QSplitter>
#include <QVBoxLayout>

#include <cmath>
#include <cstring>

#include "attention/HeatmapView.h"
#include "attention/LayerShareChart.h"
#include "attention/StackMapView.h"
#include "deepstack/attention.h"
#include "deepstack/error.h"
#include "deepstack/inspect.h"

namespace deepstack::ui {

namespace {

// A token as a chip: its whitespace made visible, so " the" and "the" differ and a newline is not blank.
QString chipText(const std::string& text) {
    QString t = QString::fromStdString(text);
    t.replace('\n', QChar(0x23CE));
    if (t.startsWith(' ')) t = QChar(0x00B7) + t.mid(1);
    return t.isEmpty() ? QString(QChar(0x2423)) : t;
}

}  // namespace

AttentionPanel::AttentionPanel(QWidget* parent) : QWidget(parent) {
    setObjectName("attentionPanel");
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);

    auto* top = new QHBoxLayout();
    record_ = new QPushButton(tr("Record Latest Answer"), this);
    record_->setObjectName("recordAttention");
    record_->setToolTip(tr("Run the latest question and answer once more and record where every layer and head looked"));
    cap_ = new QSpinBox(this);
    cap_->setObjectName("attentionCap");
    cap_->setRange(16, 65536);
    cap_->setValue(static_cast<int>(deepstack::AttentionRequest{}.memory_cap_bytes >> 20));  // the core's default
    cap_->setSuffix(tr(" MiB cap"));
    cap_->setToolTip(tr("The most memory the recorded numbers may take; a larger answer or model asks for more"));
    status_ = new QLabel(tr("Nothing recorded yet."), this);
    status_->setObjectName("attentionStatus");
    status_->setWordWrap(true);
    top->addWidget(record_);
    top->addWidget(cap_);
    top->addWidget(status_, 1);
    layout->addLayout(top);

    auto* tokenRow = new QHBoxLayout();
    tokens_ = new QListWidget(this);
    tokens_->setObjectName("attentionTokens");
    tokens_->setFlow(QListView::LeftToRight);
    tokens_->setWrapping(true);
    tokens_->setResizeMode(QListView::Adjust);
    tokens_->setSpacing(2);
    tokens_->setSelectionMode(QAbstractItemView::ExtendedSelection);
    tokens_->setMaximumHeight(60);
    tokens_->setToolTip(tr("Click a token to see where it looked; Shift or Ctrl to choose a span"));
    auto* tokenButtons = new QVBoxLayout();
    wholeAnswer_ = new QPushButton(tr("Whole Answer"), this);
    question_ = new QPushButton(tr("Question"), this);
    tokenButtons->addWidget(wholeAnswer_);
    tokenButtons->addWidget(question_);
    tokenButtons->addStretch();
    tokenRow->addWidget(tokens_, 1);
    tokenRow->addLayout(tokenButtons);
    layout->addLayout(tokenRow);

    auto* split = new QSplitter(Qt::Horizontal, this);
    stackMap_ = new StackMapView(split);
    heatmap_ = new HeatmapView(split);
    split->addWidget(stackMap_);
    split->addWidget(heatmap_);
    split->setStretchFactor(0, 2);
    split->setStretchFactor(1, 3);
    split->setSizes({330, 470});
    layout->addWidget(split, 1);

    auto* controls = new QHBoxLayout();
    play_ = new QPushButton(tr("Play"), this);
    play_->setObjectName("playLayers");
    play_->setCheckable(true);
    play_->setToolTip(tr("Step through the layers, bottom to top"));
    layer_ = new QSlider(Qt::Horizontal, this);
    layer_->setObjectName("layerSlider");
    layer_->setRange(0, 0);
    layerLabel_ = new QLabel(tr("layer –"), this);
    layerLabel_->setMinimumWidth(70);
    heads_ = new QComboBox(this);
    heads_->setObjectName("headChoice");
    image_ = new QComboBox(this);
    image_->setVisible(false);
    opacity_ = new QSlider(Qt::Horizontal, this);
    opacity_->setObjectName("opacitySlider");
    opacity_->setRange(0, 100);
    opacity_->setValue(static_cast<int>(std::lround(deepstack::HeatmapOptions{}.opacity * 100)));  // the core's default
    opacity_->setMaximumWidth(90);
    opacity_->setToolTip(tr("Opacity of the heatmap over the picture"));
    groupGrid_ = new QCheckBox(tr("On the group's grid"), this);
    groupGrid_->setObjectName("groupGrid");
    groupGrid_->setToolTip(tr("At a layer that receives a stacked group, draw each token at the high-resolution cell that group added to it"));
    controls->addWidget(play_);
    controls->addWidget(layer_, 1);
    controls->addWidget(layerLabel_);
    controls->addWidget(new QLabel(tr("Heads:"), this));
    controls->addWidget(heads_);
    controls->addWidget(image_);
    controls->addWidget(new QLabel(tr("Opacity:"), this));
    controls->addWidget(opacity_);
    controls->addWidget(groupGrid_);
    layout->addLayout(controls);

    chart_ = new LayerShareChart(this);
    layout->addWidget(chart_);

    auto* exports = new QHBoxLayout();
    exportView_ = new QPushButton(tr("Export View as PNG…"), this);
    exportNumbers_ = new QPushButton(tr("Export Numbers…"), this);
    exportNumbers_->setToolTip(tr("The chosen tokens' attention at every recorded layer and head, as JSON or CSV"));
    exports->addStretch();
    exports->addWidget(exportView_);
    exports->addWidget(exportNumbers_);
    layout->addLayout(exports);

    playTimer_.setInterval(450);
    connect(&playTimer_, &QTimer::timeout, this, [this] {
        if (layer_->value() >= layer_->maximum()) {
            play_->setChecked(false);
            return;
        }
        layer_->setValue(layer_->value() + 1);
    });
    connect(record_, &QPushButton::clicked, this, &AttentionPanel::recordRequested);
    connect(play_, &QPushButton::toggled, this, &AttentionPanel::play);
    connect(layer_, &QSlider::valueChanged, this, [this](int index) {
        if (capture_ && index >= 0 && static_cast<std::size_t>(index) < capture_->layers.size()) setLayer(static_cast<int>(capture_->layers[static_cast<std::size_t>(index)]));
    });
    connect(stackMap_, &StackMapView::layerClicked, this, &AttentionPanel::setLayer);
    connect(chart_, &LayerShareChart::layerClicked, this, &AttentionPanel::setLayer);
    connect(tokens_, &QListWidget::itemSelectionChanged, this, [this] {
        refresh();
        refreshChart();
    });
    connect(wholeAnswer_, &QPushButton::clicked, this, &AttentionPanel::chooseWholeAnswer);
    connect(question_, &QPushButton::clicked, this, &AttentionPanel::chooseQuestion);
    connect(heads_, &QComboBox::currentIndexChanged, this, [this] {
        refresh();
        refreshChart();
    });
    connect(image_, &QComboBox::currentIndexChanged, this, [this] { refresh(); });
    connect(opacity_, &QSlider::valueChanged, this, [this] { refresh(); });
    connect(groupGrid_, &QCheckBox::toggled, this, [this] { refresh(); });
    connect(exportView_, &QPushButton::clicked, this, [this] { chooseExportFile(false); });
    connect(exportNumbers_, &QPushButton::clicked, this, [this] { chooseExportFile(true); });
    showCapture({}, nullptr);
}

std::uint64_t AttentionPanel::memoryCapBytes() const { return static_cast<std::uint64_t>(cap_->value()) << 20; }

void AttentionPanel::setRecording(bool recording, const QString& status) {
    record_->setEnabled(!recording);
    if (!status.isEmpty()) status_->setText(status);
}

void AttentionPanel::showPlan(const StackPlan& plan, const QImage& picture) {
    if (capture_) return;  // a recording's own pictures win
    stackMap_->setPlan(plan, picture);
}

void AttentionPanel::clearPlan() {
    if (!capture_) stackMap_->clear();
}

void AttentionPanel::showCapture(const QString& conversationId, AttentionCapturePtr capture) {
    play_->setChecked(false);
    capture_ = std::move(capture);
    conversationId_ = conversationId;
    const QSignalBlocker blockTokens(tokens_), blockHeads(heads_), blockImages(image_), blockLayer(layer_);
    tokens_->clear();
    heads_->clear();
    image_->clear();
    const bool has = capture_ != nullptr && !capture_->queries.empty();
    for (auto* w : std::initializer_list<QWidget*>{tokens_, wholeAnswer_, question_, layer_, play_, heads_, opacity_, groupGrid_, exportView_, exportNumbers_})
        w->setEnabled(has);
    if (!has) {
        heatmap_->clear(tr("Ask a question about a page, then press Record Latest Answer (or the Attention link under the answer)."));
        chart_->setBars({});
        layerLabel_->setText(tr("layer –"));
        return;
    }
    const auto& c = *capture_;
    for (std::size_t i = 0; i < c.queries.size(); ++i) {
        const auto& q = c.queries[i];
        auto* item = new QListWidgetItem(chipText(q.text), tokens_);
        item->setData(Qt::UserRole, static_cast<qulonglong>(i));
        if (q.kind == AttentionQuery::Kind::question) {
            item->setForeground(QColor(110, 110, 110));
            item->setToolTip(tr("question token at position %1").arg(q.position));
        } else {
            item->setToolTip(tr("answer token, produced at position %1").arg(q.position));
        }
    }
    heads_->addItem(tr("Mean"));
    heads_->addItem(tr("Max"));
    for (std::int64_t h = 0; h < c.heads; ++h) heads_->addItem(tr("Head %1").arg(h));
    for (std::size_t i = 0; i < c.images.size(); ++i) image_->addItem(tr("Picture %1").arg(i + 1));
    image_->setVisible(c.images.size() > 1);
    layer_->setRange(0, static_cast<int>(c.layers.size()) - 1);
    layer_->setValue(0);
    status_->setText(tr("%1 · %2 tokens × %3 layers × %4 heads over %5 image tokens: %6 recorded (cap %7)")
                         .arg(QString::fromStdString(c.variant))
                         .arg(c.queries.size())
                         .arg(c.layers.size())
                         .arg(c.heads)
                         .arg(c.visual_tokens)
                         .arg(QString::fromStdString(human_bytes(c.bytes())))
                         .arg(tr("%1 MiB").arg(cap_->value())));
    if (!c.images.empty()) stackMap_->setPlan(c.images[0].plan, toQImage(c.images[0].image));
    chooseWholeAnswer();
    setLayer(static_cast<int>(c.layers.front()));
}

int AttentionPanel::layer() const { return stackMap_->selectedLayer(); }

void AttentionPanel::setLayer(int layer) {
    if (!capture_) return;
    const auto& layers = capture_->layers;
    const auto it = std::find(layers.begin(), layers.end(), layer);
    if (it == layers.end()) return;
    const QSignalBlocker block(layer_);
    layer_->setValue(static_cast<int>(it - layers.begin()));
    stackMap_->setSelectedLayer(layer);
    chart_->setSelectedLayer(layer);
    layerLabel_->setText(tr("layer %1 / %2").arg(layer).arg(capture_->language_layers - 1));
    refresh();
}

std::vector<std::size_t> AttentionPanel::chosenQueries() const {
    std::vector<std::size_t> out;
    for (int row = 0; row < tokens_->count(); ++row)
        if (tokens_->item(row)->isSelected()) out.push_back(static_cast<std::size_t>(tokens_->item(row)->data(Qt::UserRole).toULongLong()));
    return out;
}

void AttentionPanel::chooseWholeAnswer() {
    if (!capture_) return;
    const QSignalBlocker block(tokens_);
    tokens_->clearSelection();
    for (int row = 0; row < tokens_->count(); ++row) {
        const auto q = tokens_->item(row)->data(Qt::UserRole).toULongLong();
        if (capture_->queries[q].kind == AttentionQuery::Kind::answer) tokens_->item(row)->setSelected(true);
    }
    if (chosenQueries().empty()) {  // an empty answer: look from the question
        for (int row = 0; row < tokens_->count(); ++row) tokens_->item(row)->setSelected(true);
    }
    refresh();
    refreshChart();
}

void AttentionPanel::chooseQuestion() {
    if (!capture_) return;
    const QSignalBlocker block(tokens_);
    tokens_->clearSelection();
    for (int row = 0; row < tokens_->count(); ++row) {
        const auto q = tokens_->item(row)->data(Qt::UserRole).toULongLong();
        if (capture_->queries[q].kind == AttentionQuery::Kind::question) tokens_->item(row)->setSelected(true);
    }
    refresh();
    refreshChart();
}

void AttentionPanel::play(bool on) {
    if (on && capture_) {
        if (layer_->value() >= layer_->maximum()) layer_->setValue(0);
        playTimer_.start();
        play_->setText(tr("Pause"));
    } else {
        playTimer_.stop();
        play_->setText(tr("Play"));
    }
}

HeadChoice AttentionPanel::currentHeads() const {
    const int i = heads_->currentIndex();
    if (i <= 0) return {HeadChoice::Reduction::mean, 0};
    if (i == 1) return {HeadChoice::Reduction::max, 0};
    return {HeadChoice::Reduction::single, i - 2};
}

int AttentionPanel::currentImage() const { return std::max(0, image_->currentIndex()); }

const QImage& AttentionPanel::heatmap() const {
    heatmap_->waitForComposition();
    return heatmap_->heatmap();
}

void AttentionPanel::refresh() {
    if (!capture_ || capture_->images.empty()) return;
    const auto chosen = chosenQueries();
    if (chosen.empty()) {
        heatmap_->clear(tr("Choose a token above (or Whole Answer, or Question)."));
        return;
    }
    const auto& c = *capture_;
    const auto layer_index = static_cast<std::size_t>(layer_->value());
    const auto layer = c.layers[layer_index];
    const auto& image = c.images[static_cast<std::size_t>(currentImage())];
    const auto* group = image.plan.group_seen_first_at(layer);
    groupGrid_->setEnabled(group != nullptr);
    HeatmapOptions style;
    style.opacity = opacity_->value() / 100.0;
    if (group != nullptr && groupGrid_->isChecked()) style.group = static_cast<int>(group - image.plan.groups.data());
    try {
        const auto values = c.map(chosen, layer_index, currentHeads());
        const auto first = values.begin() + image.first_column;
        std::vector<float> slice(first, first + image.plan.input_tokens());
        float top = 0;
        for (const auto v : slice) top = std::max(top, v);
        const auto [image_share, rest] = c.shares(chosen, layer_index, currentHeads());
        QString what = chosen.size() == 1 ? tr("“%1”").arg(chipText(c.queries[chosen[0]].text)) : tr("%1 tokens").arg(chosen.size());
        QString caption = tr("Layer %1 · %2 · %3 · %4% on the picture").arg(layer).arg(what, heads_->currentText()).arg(100.0 * image_share, 0, 'f', 1);
        if (group != nullptr) caption += tr(" · receives %1").arg(QString::fromStdString(group->label));
        if (style.group >= 0) caption += tr(" (drawn on its grid)");
        heatmap_->compose([capture = capture_, at = static_cast<std::size_t>(currentImage()), slice = std::move(slice), style] {
            return toQImage(render_heatmap(capture->images[at], slice, style));
        }, top, caption);
    } catch (const std::exception& e) {
        heatmap_->clear(QString::fromUtf8(e.what()));
    }
}

void AttentionPanel::refreshChart() {
    if (!capture_) return;
    const auto chosen = chosenQueries();
    std::vector<LayerShareChart::Bar> bars;
    if (!chosen.empty()) {
        const auto& c = *capture_;
        for (std::size_t li = 0; li < c.layers.size(); ++li) {
            const auto [image_share, rest] = c.shares(chosen, li, currentHeads());
            const bool stacked = !c.images.empty() && c.images[0].plan.group_seen_first_at(c.layers[li]) != nullptr;
            bars.push_back({static_cast<int>(c.layers[li]), image_share, stacked});
        }
    }
    chart_->setBars(std::move(bars));
    chart_->setSelectedLayer(layer());
}

QImage AttentionPanel::viewImage() const {
    if (heatmap().isNull()) return {};
    const auto& picture = heatmap_->heatmap();
    return heatmap_->renderView(QSize(picture.width() + 80, picture.height() + 30));
}

QImage AttentionPanel::stackMapImage() const {
    if (!stackMap_->hasPlan()) return {};
    const auto size = stackMap_->size().isEmpty() ? stackMap_->sizeHint() : stackMap_->size();
    QImage image(size, QImage::Format_RGB32);
    image.fill(Qt::white);
    if (stackMap_->size().isEmpty()) stackMap_->resize(size);  // never shown yet: lay it out at its natural size
    stackMap_->render(&image);
    return image;
}

QString AttentionPanel::headsText() const { return heads_->currentText(); }

bool AttentionPanel::exportView(const QString& file, QString* error) const {
    if (heatmap().isNull()) {
        if (error) *error = tr("There is no heatmap to export yet.");
        return false;
    }
    // The heatmap at the picture's own resolution, with its caption and colour scale.
    const auto& picture = heatmap_->heatmap();
    const QImage view = heatmap_->renderView(QSize(picture.width() + 80, picture.height() + 30));
    if (!view.save(file, "PNG")) {
        if (error) *error = tr("Could not write %1 (is the folder writable?)").arg(file);
        return false;
    }
    return true;
}

bool AttentionPanel::exportNumbers(const QString& file, QString* error) const {
    if (!capture_ || chosenQueries().empty()) {
        if (error) *error = tr("There are no recorded numbers to export yet.");
        return false;
    }
    std::vector<std::size_t> layers(capture_->layers.size());
    for (std::size_t i = 0; i < layers.size(); ++i) layers[i] = i;
    const auto chosen = chosenQueries();
    const auto text = file.endsWith(".csv", Qt::CaseInsensitive) ? attention_csv(*capture_, chosen, layers) : attention_json(*capture_, chosen, layers);
    QSaveFile out(file);
    if (!out.open(QIODevice::WriteOnly) || out.write(text.data(), static_cast<qint64>(text.size())) != static_cast<qint64>(text.size()) || !out.commit()) {
        if (error) *error = tr("Could not write %1: %2").arg(file, out.errorString());
        return false;
    }
    return true;
}

void AttentionPanel::chooseExportFile(bool numbers) {
    const auto file = numbers ? QFileDialog::getSaveFileName(this, tr("Export Numbers"), "attention.json", tr("JSON (*.json);;CSV (*.csv)"))
                              : QFileDialog::getSaveFileName(this, tr("Export View"), QString("attention-layer-%1.png").arg(layer()), tr("PNG pictures (*.png)"));
    if (file.isEmpty()) return;
    QString error;
    if (!(numbers ? exportNumbers(file, &error) : exportView(file, &error))) Q_EMIT problem(tr("Export failed"), error);
}

}  // namespace deepstack::ui

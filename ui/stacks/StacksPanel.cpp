#include "stacks/StacksPanel.h"

#include "RgbImages.h"

#include <QComboBox>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSaveFile>
#include <QSplitter>
#include <QStyle>
#include <QTableWidget>
#include <QTextBrowser>
#include <QVBoxLayout>

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "attention/HeatmapView.h"

namespace deepstack::ui {

namespace {

enum Column { kGroup, kLayer, kMeanChange, kLargestDrop, kFlipped, kJoins, kTop, kAnswer, kColumns };
constexpr int kGroupRole = Qt::UserRole + 1;

QTableWidgetItem* number(double value, int decimals) {
    auto* item = new QTableWidgetItem();
    item->setData(Qt::DisplayRole, QString::number(value, 'f', decimals).toDouble());  // sorts as a number
    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    return item;
}

// The first column sorts by group number, the row of every group last.
class GroupItem : public QTableWidgetItem {
public:
    GroupItem(const QString& name, int group) : QTableWidgetItem(name) { setData(kGroupRole, group); }
    bool operator<(const QTableWidgetItem& other) const override { return key() < static_cast<const GroupItem&>(other).key(); }

private:
    int key() const {
        const auto group = data(kGroupRole).toInt();
        return group == 0 ? 1 << 20 : group;
    }
};

QTableWidgetItem* text(const QString& value) {
    auto* item = new QTableWidgetItem(value);
    item->setToolTip(value);
    return item;
}

// The original answer with each token shaded by how much less likely it became without the groups (red) or more
// likely (green), and tokens that stopped being the first choice underlined.
QString shadedAnswer(const Ablation& a) {
    QString html;
    for (const auto& c : a.changes) {
        const auto change = c.ablated_logprob - c.logprob;
        const auto strength = std::clamp(std::abs(change) / 3.0, 0.0, 1.0);
        const int fade = static_cast<int>(255 - 150 * strength);
        const auto colour = change < 0 ? QString("rgb(255,%1,%1)").arg(fade) : QString("rgb(%1,255,%1)").arg(fade);
        auto piece = QString::fromStdString(c.text).toHtmlEscaped();
        piece.replace('\n', "<br>");
        if (piece.isEmpty()) piece = "&#x2423;";
        html += QString("<span style=\"background:%1;%2\" title=\"log p %3 → %4\">%5</span>")
                    .arg(colour, c.flipped() ? "text-decoration:underline;" : "")
                    .arg(c.logprob, 0, 'f', 2)
                    .arg(c.ablated_logprob, 0, 'f', 2)
                    .arg(piece);
    }
    return html;
}

bool writeFile(const QString& file, const QByteArray& bytes, QString* error) {
    QSaveFile out(file);
    if (!out.open(QIODevice::WriteOnly) || out.write(bytes) != bytes.size() || !out.commit()) {
        if (error != nullptr) *error = QObject::tr("%1 could not be written: %2").arg(file, out.errorString());
        return false;
    }
    return true;
}

// QHeaderView keeps room for the sort arrow in every section, as wide as the header is high: with two-line headers
// that is most of a number column. Only the sorted section shows the arrow, so only it keeps the room.
class SortedSectionHeader : public QHeaderView {
public:
    using QHeaderView::QHeaderView;

protected:
    QSize sectionSizeFromContents(int section) const override {
        auto size = QHeaderView::sectionSizeFromContents(section);
        if (!isSortIndicatorShown() || section == sortIndicatorSection() || model() == nullptr) return size;
        const auto margin = style()->pixelMetric(QStyle::PM_HeaderMargin, nullptr, this);
        const auto text = fontMetrics().size(0, model()->headerData(section, orientation()).toString()).width();
        size.setWidth(std::min(size.width(), text + 6 * margin));
        return size;
    }
};

}  // namespace

StacksPanel::StacksPanel(QWidget* parent) : QWidget(parent) {
    setObjectName("stacksPanel");
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);

    auto* top = new QHBoxLayout();
    measureButton_ = new QPushButton(tr("Measure the Stacks"), this);
    measureButton_->setObjectName("measureStacks");
    measureButton_->setToolTip(tr("Run the latest question again with each stacked group left out, and once with all of them "
                                  "left out, and measure where each group joins"));
    status_ = new QLabel(tr("What each stacked group changes in the latest answer."), this);
    status_->setWordWrap(true);
    top->addWidget(measureButton_);
    top->addWidget(status_, 1);
    layout->addLayout(top);

    auto* split = new QSplitter(Qt::Vertical, this);
    table_ = new QTableWidget(0, kColumns, split);
    table_->setHorizontalHeader(new SortedSectionHeader(Qt::Horizontal, table_));
    table_->horizontalHeader()->setSectionsClickable(true);
    table_->horizontalHeader()->setHighlightSections(true);
    table_->setObjectName("stackEffects");
    // Two-line headers keep the number columns as narrow as their numbers, so that the eight columns fit the tab at
    // the window's default width and the answers get what is left.
    table_->setHorizontalHeaderLabels({tr("Left out"), tr("Enters at"), tr("Mean Δ\nlog p"), tr("Largest\ndrop"), tr("Flipped"),
                                       tr("|added| /\n|hidden|"), tr("Change\nat top"), tr("Answer without it")});
    table_->horizontalHeaderItem(kMeanChange)->setToolTip(tr("Mean change of the original answer's token log-probabilities without the group"));
    table_->horizontalHeaderItem(kFlipped)->setToolTip(tr("Tokens of the original answer that stop (or start) being the model's first choice"));
    table_->horizontalHeaderItem(kJoins)->setToolTip(tr("Mean, over the image positions, of the size of what the group adds against the hidden state it joins"));
    table_->horizontalHeaderItem(kTop)->setToolTip(tr("Mean relative change of the last layer's output at the image positions without the group"));
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->verticalHeader()->setVisible(false);
    table_->horizontalHeader()->setSectionResizeMode(kAnswer, QHeaderView::Stretch);  // a long answer is elided, whole in its tooltip
    table_->setSortingEnabled(true);
    table_->setWordWrap(false);
    connect(table_->horizontalHeader(), &QHeaderView::sortIndicatorChanged, table_, &QTableWidget::resizeColumnsToContents);

    auto* answers = new QWidget(split);
    auto* answersLayout = new QHBoxLayout(answers);
    answersLayout->setContentsMargins(0, 0, 0, 0);
    const auto column = [&](const QString& title, QTextBrowser*& browser, QLabel** label) {
        auto* box = new QVBoxLayout();
        auto* heading = new QLabel(title, answers);
        heading->setStyleSheet("font-weight: bold");
        if (label != nullptr) *label = heading;
        browser = new QTextBrowser(answers);
        box->addWidget(heading);
        box->addWidget(browser);
        answersLayout->addLayout(box);
    };
    column(tr("Answer (red: less likely without it)"), answer_, nullptr);
    column(tr("Answer without it"), ablated_, &ablatedTitle_);
    answer_->setObjectName("originalAnswer");
    ablated_->setObjectName("ablatedAnswer");

    auto* mapBox = new QWidget(split);
    auto* mapLayout = new QVBoxLayout(mapBox);
    mapLayout->setContentsMargins(0, 0, 0, 0);
    auto* mapRow = new QHBoxLayout();
    measure_ = new QComboBox(mapBox);
    measure_->setObjectName("stackMeasure");
    measure_->addItem(tr("Where it joins: |added| / |hidden|"));
    measure_->addItem(tr("At the top: change without it"));
    exportMap_ = new QPushButton(tr("Export Map…"), mapBox);
    exportNumbers_ = new QPushButton(tr("Export Numbers…"), mapBox);
    mapRow->addWidget(new QLabel(tr("Map:"), mapBox));
    mapRow->addWidget(measure_, 1);
    mapRow->addWidget(exportMap_);
    mapRow->addWidget(exportNumbers_);
    mapLayout->addLayout(mapRow);
    heatmap_ = new HeatmapView(mapBox);
    mapLayout->addWidget(heatmap_, 1);
    split->addWidget(table_);
    split->addWidget(answers);
    split->addWidget(mapBox);
    // Room for the rows of a 4-group model and its "all groups" row without scrolling.
    table_->setMinimumHeight(table_->horizontalHeader()->sizeHint().height() + 6 * table_->verticalHeader()->defaultSectionSize());
    split->setStretchFactor(0, 0);
    split->setStretchFactor(1, 1);
    split->setStretchFactor(2, 4);
    layout->addWidget(split, 1);

    connect(measureButton_, &QPushButton::clicked, this, &StacksPanel::measureRequested);
    connect(table_, &QTableWidget::itemSelectionChanged, this, &StacksPanel::refresh);
    connect(measure_, &QComboBox::currentIndexChanged, this, &StacksPanel::refresh);
    const auto exporter = [this](bool numbers) {
        const auto file = QFileDialog::getSaveFileName(this, numbers ? tr("Export the Numbers") : tr("Export the Map"),
                                                       numbers ? "stack-effects.json" : "stack-map.png",
                                                       numbers ? tr("JSON (*.json)") : tr("PNG image (*.png)"));
        if (file.isEmpty()) return;
        QString error;
        if (!(numbers ? exportNumbers(file, &error) : exportMap(file, &error))) Q_EMIT problem(tr("Export"), error);
    };
    connect(exportMap_, &QPushButton::clicked, this, [exporter] { exporter(false); });
    connect(exportNumbers_, &QPushButton::clicked, this, [exporter] { exporter(true); });
    showEffects({}, nullptr);
}

void StacksPanel::setMeasuring(bool measuring, const QString& status) {
    measureButton_->setEnabled(!measuring);
    if (!status.isEmpty()) status_->setText(status);
}

void StacksPanel::showEffects(const QString& conversationId, StackEffectsPtr effects) {
    conversationId_ = conversationId;
    effects_ = std::move(effects);
    exportMap_->setEnabled(effects_ != nullptr);
    exportNumbers_->setEnabled(effects_ != nullptr);
    if (effects_) {
        const auto& map = effects_->map;
        auto ms = map.milliseconds + effects_->all.milliseconds;
        for (const auto& a : effects_->each) ms += a.milliseconds;
        const auto took = ms < 1000 ? tr("%1 ms").arg(ms, 0, 'f', 0) : tr("%1 s").arg(ms / 1000.0, 0, 'f', 1);
        status_->setText(tr("%1: %2 groups, measured in %3. Choose a row to compare the answers and see its map.")
                             .arg(QString::fromStdString(map.variant))
                             .arg(effects_->each.size())
                             .arg(took));
    }
    fillTable();
    if (effects_ && !effects_->each.empty()) chooseGroup(1);
    refresh();
}

void StacksPanel::fillTable() {
    table_->setSortingEnabled(false);
    table_->setRowCount(0);
    if (!effects_) {
        table_->resizeColumnsToContents();  // to the headers: the empty table fits the tab too
        return;
    }
    const auto addRow = [&](const Ablation& a, int group, const GroupInjection* injection, const QString& name, const QString& enters) {
        const int row = table_->rowCount();
        table_->insertRow(row);
        table_->setItem(row, kGroup, new GroupItem(name, group));
        table_->setItem(row, kLayer, text(enters));
        table_->setItem(row, kMeanChange, number(a.mean_logprob_change(), 3));
        table_->setItem(row, kLargestDrop, number(a.largest_logprob_drop(), 3));
        table_->setItem(row, kFlipped, number(a.flipped_tokens(), 0));
        table_->setItem(row, kJoins, injection != nullptr ? number(injection->mean_relative_change(), 3) : text("–"));
        table_->setItem(row, kTop, injection != nullptr ? number(injection->mean_change_at_top(), 3) : text("–"));
        const auto same = a.first_difference() < 0;
        const auto answer = QString::fromStdString(a.ablated_text);
        auto* answerItem = text((same ? tr("(the same) ") : QString()) + QString(answer).replace('\n', ' ').simplified());
        answerItem->setToolTip(answer);
        table_->setItem(row, kAnswer, answerItem);
    };
    const auto& plan = effects_->map.images.empty() ? StackPlan{} : effects_->map.images.front().plan;
    for (std::size_t i = 0; i < effects_->each.size(); ++i) {
        const int group = static_cast<int>(i) + 1;
        const GroupInjection* injection = nullptr;
        for (const auto& g : effects_->map.groups)
            if (g.group == group) injection = &g;
        QString enters = "–";
        if (i < plan.groups.size()) {
            const auto& g = plan.groups[i];
            enters = g.ever_added ? tr("%1 layer %2%3").arg(g.before_layer ? tr("before") : tr("after")).arg(g.layer).arg(g.tower == Tower::vision ? tr(" (vision)") : QString())
                                  : tr("never (past the last layer)");
        }
        addRow(effects_->each[i], group, injection, tr("group %1").arg(group), enters);
    }
    addRow(effects_->all, 0, nullptr, tr("all groups"), tr("every layer above"));
    table_->setSortingEnabled(true);
    table_->sortByColumn(kGroup, Qt::AscendingOrder);
    table_->resizeColumnsToContents();
}

int StacksPanel::chosenGroup() const {
    const auto selected = table_->selectionModel() != nullptr ? table_->selectionModel()->selectedRows() : QModelIndexList{};
    if (selected.isEmpty()) return -1;
    return table_->item(selected.front().row(), kGroup)->data(kGroupRole).toInt();
}

void StacksPanel::chooseGroup(int group) {
    for (int row = 0; row < table_->rowCount(); ++row)
        if (table_->item(row, kGroup)->data(kGroupRole).toInt() == group) table_->selectRow(row);
}

const Ablation* StacksPanel::chosenAblation() const {
    const auto group = chosenGroup();
    if (!effects_ || group < 0) return nullptr;
    if (group == 0) return &effects_->all;
    return group <= static_cast<int>(effects_->each.size()) ? &effects_->each[static_cast<std::size_t>(group - 1)] : nullptr;
}

void StacksPanel::refresh() {
    const auto* a = chosenAblation();
    if (a == nullptr) {
        answer_->setHtml({});
        ablated_->setHtml({});
        heatmap_->clear(effects_ ? tr("Choose a row.") : tr("Ask a question about a page, then press Measure the Stacks."));
        return;
    }
    const auto group = chosenGroup();
    answer_->setHtml(shadedAnswer(*a));
    ablatedTitle_->setText(group == 0 ? tr("Answer without any group") : tr("Answer without group %1").arg(group));
    auto ablatedText = QString::fromStdString(a->ablated_text).toHtmlEscaped();
    ablatedText.replace('\n', "<br>");
    const auto differs = a->first_difference();
    ablated_->setHtml(ablatedText + "<p style=\"color:gray\">" +
                      (differs < 0 ? tr("The same answer.") : tr("Differs from token %1 on; %2 of %3 tokens flipped.").arg(differs + 1).arg(a->flipped_tokens()).arg(a->changes.size())) +
                      "</p>");

    const GroupInjection* injection = nullptr;
    for (const auto& g : effects_->map.groups)
        if (g.group == group) injection = &g;
    if (injection == nullptr || effects_->map.images.empty()) {
        heatmap_->clear(group == 0 ? tr("Choose one group to see its map.") : tr("This group never joins for this picture."));
        return;
    }
    const auto& image = effects_->map.images.front();
    const auto& values = measure_->currentIndex() == 0 ? injection->relative_change : injection->change_at_top;
    const auto tokens = static_cast<std::size_t>(image.plan.input_tokens());
    if (values.size() < tokens) {
        heatmap_->clear(tr("No numbers for this picture."));
        return;
    }
    std::vector<float> slice(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(tokens));
    HeatmapOptions style;
    const auto top = *std::max_element(slice.begin(), slice.end());
    const auto caption = (measure_->currentIndex() == 0 ? tr("group %1 where it joins (%2): |added| / |hidden|, mean %3")
                                                         : tr("group %1 at the top: change without it (%2), mean %3"))
                             .arg(group)
                             .arg(QString::fromStdString(injection->label))
                             .arg(measure_->currentIndex() == 0 ? injection->mean_relative_change() : injection->mean_change_at_top(), 0, 'f', 3);
    // The image belongs to effects_, which the composition shares: a newer measurement cannot free it mid-draw.
    heatmap_->compose([effects = effects_, slice = std::move(slice), style] {
        return toQImage(render_heatmap(effects->map.images.front(), slice, style));
    }, top, caption);
}

const QImage& StacksPanel::heatmap() const {
    heatmap_->waitForComposition();
    return heatmap_->heatmap();
}
QString StacksPanel::answerHtml() const { return answer_->toHtml(); }
QString StacksPanel::ablatedAnswerHtml() const { return ablated_->toPlainText(); }

bool StacksPanel::exportMap(const QString& file, QString* error) const {
    if (heatmap().isNull()) {
        if (error != nullptr) *error = tr("There is no map to export: choose a group that joins.");
        return false;
    }
    const auto image = heatmap_->renderView(QSize(1200, 900));
    QByteArray bytes;
    {
        QSaveFile out(file);
        if (!out.open(QIODevice::WriteOnly) || !image.save(&out, "PNG") || !out.commit()) {
            if (error != nullptr) *error = tr("%1 could not be written: %2").arg(file, out.errorString());
            return false;
        }
    }
    return true;
}

bool StacksPanel::exportNumbers(const QString& file, QString* error) const {
    if (!effects_) {
        if (error != nullptr) *error = tr("Nothing is measured yet.");
        return false;
    }
    nlohmann::ordered_json out{{"format", "deepstack-studio-stack-effects"}, {"version", 1}};
    out["injection_map"] = nlohmann::ordered_json::parse(injection_map_json(effects_->map));
    out["each_group"] = nlohmann::ordered_json::array();
    for (const auto& a : effects_->each) out["each_group"].push_back(nlohmann::ordered_json::parse(ablation_json(a)));
    out["all_groups"] = nlohmann::ordered_json::parse(ablation_json(effects_->all));
    return writeFile(file, QByteArray::fromStdString(out.dump(1)), error);
}

}  // namespace deepstack::ui

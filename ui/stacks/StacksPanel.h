// What each stacked group changes in the latest answer: a sortable table with one row per group left out (and one
// for all of them), the answer and the answer without the chosen group side by side with the original's tokens
// shaded by how much less likely they became, and the injection map of the chosen group over the page (how much
// it moves each image position where it joins, or what of that reaches the top). The measuring runs on the
// inference thread; this panel only shows what came back.
#pragma once

#include <QWidget>

#include "inference/InferenceTypes.h"

class QComboBox;
class QLabel;
class QPushButton;
class QTableWidget;
class QTextBrowser;

namespace deepstack::ui {

class HeatmapView;

class StacksPanel : public QWidget {
    Q_OBJECT
public:
    explicit StacksPanel(QWidget* parent = nullptr);

    void showEffects(const QString& conversationId, StackEffectsPtr effects);
    void setMeasuring(bool measuring, const QString& status = {});

    // What is shown now, for tests and the exports.
    const StackEffects* effects() const { return effects_.get(); }
    const QString& conversationId() const { return conversationId_; }
    QTableWidget& table() { return *table_; }
    QComboBox& measureChoice() { return *measure_; }
    const QImage& heatmap() const;
    QString answerHtml() const;
    QString ablatedAnswerHtml() const;
    // The chosen row's group (1 = the first to enter); 0 for the row of every group, -1 when none is chosen.
    int chosenGroup() const;
    void chooseGroup(int group);

    // Both report a problem in `error` (and return false) instead of showing it.
    bool exportMap(const QString& file, QString* error) const;      // the heatmap as shown, PNG
    bool exportNumbers(const QString& file, QString* error) const;  // every ablation and the map, JSON

Q_SIGNALS:
    void measureRequested();
    void problem(const QString& title, const QString& message);

private:
    void fillTable();
    void refresh();
    const Ablation* chosenAblation() const;

    StackEffectsPtr effects_;
    QString conversationId_;
    QPushButton* measureButton_ = nullptr;
    QLabel* status_ = nullptr;
    QTableWidget* table_ = nullptr;
    QTextBrowser* answer_ = nullptr;
    QTextBrowser* ablated_ = nullptr;
    QLabel* ablatedTitle_ = nullptr;
    QComboBox* measure_ = nullptr;
    HeatmapView* heatmap_ = nullptr;
    QPushButton* exportMap_ = nullptr;
    QPushButton* exportNumbers_ = nullptr;
};

}  // namespace deepstack::ui

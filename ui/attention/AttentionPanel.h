// The attention workspace: which tokens to look from (a word of the answer, a span, the whole answer, the
// question), the stack map, the heatmap of the chosen layer and head over the picture, a layer slider that can
// play bottom to top, the share of attention on the picture per layer, and exports (PNG of the view, numbers
// as JSON or CSV). Recording runs on the inference thread; this panel only draws what came back.
#pragma once

#include <QTimer>
#include <QWidget>

#include "inference/InferenceTypes.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QListWidget;
class QPushButton;
class QSlider;
class QSpinBox;

namespace deepstack::ui {

class HeatmapView;
class LayerShareChart;
class StackMapView;

class AttentionPanel : public QWidget {
    Q_OBJECT
public:
    explicit AttentionPanel(QWidget* parent = nullptr);

    // Before anything is recorded: the plan of the loaded model for a picture (the stack map alone).
    void showPlan(const StackPlan& plan, const QImage& picture);
    void clearPlan();
    void showCapture(const QString& conversationId, AttentionCapturePtr capture);
    void setRecording(bool recording, const QString& status = {});
    std::uint64_t memoryCapBytes() const;

    // What is shown now, for tests and the exports.
    const AttentionCapture* capture() const { return capture_.get(); }
    const QString& conversationId() const { return conversationId_; }
    int layer() const;
    std::vector<std::size_t> chosenQueries() const;
    const QImage& heatmap() const;
    StackMapView& stackMap() { return *stackMap_; }
    LayerShareChart& chart() { return *chart_; }
    QListWidget& tokenList() { return *tokens_; }
    QComboBox& headChoice() { return *heads_; }
    QCheckBox& groupGrid() { return *groupGrid_; }

    // The heatmap view as exported (picture, caption, scale) and the stack map, for the answer report; null
    // images when nothing is recorded.
    QImage viewImage() const;
    QImage stackMapImage() const;
    QString headsText() const;

    // Both report a problem in `error` (and return false) instead of showing it.
    bool exportView(const QString& file, QString* error) const;
    bool exportNumbers(const QString& file, QString* error) const;  // .json or .csv by the name

public Q_SLOTS:
    void setLayer(int layer);
    void chooseWholeAnswer();
    void chooseQuestion();
    void play(bool on);

Q_SIGNALS:
    void recordRequested();
    void problem(const QString& title, const QString& message);

private:
    void refresh();
    void refreshChart();
    HeadChoice currentHeads() const;
    int currentImage() const;
    void chooseExportFile(bool numbers);

    AttentionCapturePtr capture_;
    QString conversationId_;
    QPushButton* record_ = nullptr;
    QLabel* status_ = nullptr;
    QSpinBox* cap_ = nullptr;
    QListWidget* tokens_ = nullptr;
    QPushButton* wholeAnswer_ = nullptr;
    QPushButton* question_ = nullptr;
    StackMapView* stackMap_ = nullptr;
    HeatmapView* heatmap_ = nullptr;
    LayerShareChart* chart_ = nullptr;
    QSlider* layer_ = nullptr;
    QLabel* layerLabel_ = nullptr;
    QPushButton* play_ = nullptr;
    QComboBox* heads_ = nullptr;
    QComboBox* image_ = nullptr;
    QSlider* opacity_ = nullptr;
    QCheckBox* groupGrid_ = nullptr;
    QPushButton* exportView_ = nullptr;
    QPushButton* exportNumbers_ = nullptr;
    QTimer playTimer_;
};

}  // namespace deepstack::ui

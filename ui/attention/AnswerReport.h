// The answer report (File › Export Answer Report…): one A4 page that shows a question, its answer and how it was
// made, and where the answer looked, for sharing outside the app.
#pragma once

#include <QImage>
#include <QString>

namespace deepstack::ui {

struct AnswerReportContent {
    QString modelLine;  // the model, its device and compute type, the context, the sampling, the date
    QString question;
    QString answer;
    QString timingsLine;     // tokens, time to the first token, speed, image tokens, why it stopped
    QString attentionTitle;  // the layer and heads shown, the DeepStack variant, the layers recorded
    QImage view;             // the page under the attention heatmap
    QImage stackMap;         // the stack map beside it
};

// Draws the report on an A4 page at 150 dots per inch into `file`: a PDF when the name ends in .pdf, else a PNG
// (written whole or not at all). False with `error` saying why when it cannot be written.
bool writeAnswerReport(const AnswerReportContent& content, const QString& file, QString* error);

}  // namespace deepstack::ui

// A recorded demo: every exchange of a chat as it happened (the question, the pages shown, the answer's text
// piece by piece with the time each arrived, the numbers, and the attention if it was recorded), the model that
// answered, in one JSON file that plays back on a machine without the model. Plain data and its file form.
#pragma once

#include <QDateTime>
#include <QImage>
#include <QList>
#include <QString>

#include <optional>

#include "chat/ChatTypes.h"
#include "inference/InferenceTypes.h"

namespace deepstack::ui {

struct RecordedPiece {
    double atMs = 0;  // after the question was sent
    QString text;
};

struct RecordedExchange {
    QString question;
    QList<int> pages;  // indexes into Recording::pages
    QList<RecordedPiece> pieces;
    QString answer;
    QString stopReason;
    MessageTimings timings;
    double totalMs = 0;  // from sending to the end of the answer
    AttentionCapturePtr attention;  // recorded for this answer, if it was
};

struct RecordedPage {
    QString name;  // "invoice.pdf p. 2"
    QImage image;  // as the model saw it
};

struct Recording {
    QString model;   // "latest · DeepStack-L (LLaVA) · cpu bf16"
    QDateTime created;
    QList<RecordedPage> pages;
    QList<RecordedExchange> exchanges;
};

bool saveRecording(const Recording& recording, const QString& file, QString* error);
// nullopt with `error` naming the file and what is wrong with it.
std::optional<Recording> loadRecording(const QString& file, QString* error);

}  // namespace deepstack::ui

// Records a demo as it happens: each question the chat sends (with the pages rendered as the model got them), the
// answer's pieces as they arrive and when, its numbers, and the attention recorded for it. Only watches: the
// chat, the worker and the workspace work as they would without it.
#pragma once

#include <QElapsedTimer>
#include <QObject>

#include "demo/Recording.h"

namespace deepstack::ui {

class ChatController;
class InferenceService;
class WorkspaceModel;

class DemoRecorder : public QObject {
    Q_OBJECT
public:
    DemoRecorder(ChatController& chat, InferenceService& service, WorkspaceModel& workspace, QObject* parent = nullptr);

    void start(const QString& modelDescription);
    bool isRecording() const { return active_; }
    // Stops and hands over what was recorded (an answer still running is left out).
    Recording stop();
    const Recording& recorded() const { return recording_; }

private:
    void beginExchange();
    void endExchange();

    ChatController& chat_;
    WorkspaceModel& workspace_;
    bool active_ = false;
    bool inExchange_ = false;
    QString conversationId_;
    QElapsedTimer clock_;
    RecordedExchange current_;
    QList<QString> pageKeys_;  // path|page|dpi of each recorded page, so a page asked about twice is stored once
    Recording recording_;
};

}  // namespace deepstack::ui

// Plays a recording back without the model: the pages it was about open in the workspace, each question appears
// and its answer streams piece by piece at the recorded times (or 2x, 4x faster), the recorded attention shows in
// the Attention tab, and the bar above the chat says all along that this is a recording, not a live model.
#pragma once

#include <QElapsedTimer>
#include <QTemporaryDir>
#include <QTimer>
#include <QWidget>

#include "chat/ChatTypes.h"
#include "demo/Recording.h"

class QComboBox;
class QLabel;
class QPushButton;

namespace deepstack::ui {

class AttentionPanel;
class ChatView;
class WorkspaceModel;

class ReplayBar : public QWidget {
    Q_OBJECT
public:
    ReplayBar(ChatView& view, AttentionPanel& attention, WorkspaceModel& workspace, QWidget* parent = nullptr);

    // Starts playing `recording` from its first exchange; false with `error` when its pages cannot be opened.
    bool play(Recording recording, QString* error);
    void stop();  // ends the replay; the chat shows its own conversation again
    bool isPlaying() const { return playing_; }
    void setSpeed(double speed);
    const ChatConversation& shown() const { return shown_; }
    // When each piece of the answers was shown, after its question (ms, as the recording counts), for tests.
    const QList<QList<double>>& shownAt() const { return shownAt_; }
    QString bannerText() const;

Q_SIGNALS:
    void finished();  // the last answer has been shown
    void ended();     // the user ended the replay

private:
    void startExchange();
    void tick();
    void finishExchange();

    ChatView& view_;
    AttentionPanel& attention_;
    WorkspaceModel& workspace_;
    Recording recording_;
    QTemporaryDir pagesDir_;
    QList<PageRef> pageRefs_;
    ChatConversation shown_;
    int exchange_ = 0;
    int piece_ = 0;
    double speed_ = 1.0;
    bool playing_ = false;
    bool betweenExchanges_ = false;
    QElapsedTimer clock_;
    double offsetMs_ = 0;  // recorded time already played before the latest change of speed
    QTimer timer_;
    QList<QList<double>> shownAt_;
    QLabel* banner_ = nullptr;
    QComboBox* speedChoice_ = nullptr;
    QPushButton* end_ = nullptr;
};

}  // namespace deepstack::ui

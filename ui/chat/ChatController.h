// The conversations and what happens when the user asks, stops, regenerates or edits: the chat's logic on the
// GUI thread, between the views, the workspace (attached pages), the inference service and the store. Every
// change is saved at once, and a streaming answer at least every second.
#pragma once

#include <QElapsedTimer>
#include <QObject>

#include "chat/ChatTypes.h"
#include "chat/ConversationStore.h"
#include "inference/InferenceTypes.h"

namespace deepstack::ui {

class InferenceService;
class WorkspaceModel;

class ChatController : public QObject {
    Q_OBJECT
public:
    ChatController(InferenceService& service, WorkspaceModel& workspace, ConversationStore store, QObject* parent = nullptr);

    // Reads the saved conversations and opens the most recent (or a new one).
    void restore();
    const QList<ChatConversation>& conversations() const { return conversations_; }
    const ChatConversation& current() const { return conversations_[current_]; }
    int currentIndex() const { return current_; }
    const ConversationStore& store() const { return store_; }

    void newConversation();
    // Adds an exported conversation (ConversationExport.h) as a new one, saved and current. False with `error` set
    // when the file is not a conversation.
    bool importConversation(const QString& file, QString* error);
    void selectConversation(int index);
    void deleteConversation(int index);
    void setSystemPrompt(const QString& prompt);
    void setSampling(const SamplingOptions& sampling);
    int renderDpi() const { return renderDpi_; }
    // How often a streaming answer is written to disk (0: after every piece).
    void setStreamingSaveInterval(int ms) { streamingSaveMs_ = ms; }
    void setRenderDpi(int dpi) { renderDpi_ = dpi; }

    bool isBusy() const { return busy_; }
    // Asks `text` about the pages ticked in the workspace (they are unticked once sent). False, with
    // errorOccurred, when nothing can be sent (no model, a page that does not render, already busy).
    bool send(const QString& text);
    void stop();
    bool canRegenerate() const;
    void regenerate();
    bool canEditLastQuestion() const;
    // Replaces the last question (its answer goes) and asks it again.
    void editLastQuestion(const QString& text);

Q_SIGNALS:
    void conversationsChanged();      // list, titles or current conversation
    void messagesReset();             // the current conversation must be shown again
    void messageChanged(int index);   // one message of the current conversation (streaming)
    void busyChanged(bool busy);
    void liveStats(double timeToFirstTokenMs, double tokensPerSecond, int tokens);
    void errorOccurred(const QString& message);
    void restoreProblems(const QStringList& problems);

private:
    // `question` is the question's pages already rendered (once, before anything in the chat changed).
    void startAnswer(int questionIndex, TurnInput question);
    // Renders the question's pages; false, with errorOccurred naming what failed, when one cannot be shown.
    bool renderQuestion(const ChatMessage& question, TurnInput* input);
    void onText(const QString& conversationId, const QString& text, int tokensSoFar);
    void onFinished(const GenerateResult& result);
    void onFailed(const QString& conversationId, const QString& message);
    void save(int index);
    int indexOf(const QString& id) const;
    void setBusy(bool busy);
    TurnInput questionInput(const ChatMessage& question, QStringList* problems) const;

    InferenceService& service_;
    WorkspaceModel& workspace_;
    ConversationStore store_;
    QList<ChatConversation> conversations_;
    int current_ = 0;
    int renderDpi_ = 144;
    int streamingSaveMs_ = 1000;
    bool busy_ = false;

    // What the inference thread holds, so that only what it lacks is sent again.
    QString heldId_;
    QString heldPrompt_;
    int heldExchanges_ = 0;

    QString answeringId_;
    QElapsedTimer sinceRequest_;
    QElapsedTimer sinceSave_;
    double firstTokenMs_ = -1;
};

}  // namespace deepstack::ui

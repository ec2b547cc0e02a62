// The messages of one conversation: answers rendered as markdown, who said what with timings, and per message
// actions (Copy; Regenerate and Edit on the last exchange) as links. Only the streaming message is redrawn.
#pragma once

#include <QList>
#include <QTextBrowser>

#include "chat/ChatTypes.h"

namespace deepstack::ui {

class ChatView : public QTextBrowser {
    Q_OBJECT
public:
    explicit ChatView(QWidget* parent = nullptr);

    void showConversation(const ChatConversation& conversation, bool canRegenerate);
    void updateMessage(const ChatConversation& conversation, int index, bool canRegenerate);
    // Finds the next (or previous) match, wrapping around; false when the text is nowhere.
    bool findText(const QString& text, bool backward);

Q_SIGNALS:
    void copyRequested(int index);
    void regenerateRequested();
    void editRequested();
    void attentionRequested();  // the latest answer's "Attention" link
    // A box or point the answer at `message` names (its `item`-th), clicked under that answer.
    void groundingRequested(int message, int item);
    // A page a question was asked about (its `attachment`-th), clicked in that question's header.
    void pageRequested(int message, int attachment);

private:
    void appendMessage(const ChatConversation& conversation, int index, bool canRegenerate);
    QList<int> starts_;  // document position where each message begins (before its block separator)
};

}  // namespace deepstack::ui

// The messages of one conversation: answers rendered as markdown, who said what with timings, and per message
// actions (Copy; Regenerate and Edit on the last exchange) as links. Only the streaming message is redrawn, and of
// it only the paragraph being written: finished paragraphs are rendered once, so a long answer costs the same per
// token at its end as at its start.
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
    // Characters handed to the markdown renderer since construction: what streaming costs (tests read it).
    qint64 markdownCharactersRendered() const { return markdownCharacters_; }

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
    // Redraws the streaming answer from its first unfinished paragraph on, then its footer.
    void extendStream(const ChatMessage& m);
    void insertMarkdown(QTextCursor& cursor, const QString& markdown);
    // The markdown in a block after the cursor's (newBlock) or where the cursor is.
    void insertMarkdownAfter(QTextCursor& cursor, const QString& markdown, bool newBlock);
    QList<int> starts_;  // document position where each message begins (before its block separator)
    // The answer being streamed: its index, the text already rendered as finished paragraphs, and the document
    // position where what follows them begins.
    int streamIndex_ = -1;
    QString streamFinished_;
    int streamTailStart_ = 0;
    qint64 markdownCharacters_ = 0;
};

}  // namespace deepstack::ui

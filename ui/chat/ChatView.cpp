#include "chat/ChatView.h"

#include "deepstack/grounding.h"
#include "workspace/PageView.h"

#include <QFileInfo>
#include <QScrollBar>
#include <QTextBlock>
#include <QTextCursor>
#include <QUrl>

namespace deepstack::ui {

namespace {
// The pages a question was asked about, each a link that opens it (HTML).
QString attachmentLinks(const ChatMessage& m, int index) {
    QStringList names;
    for (int i = 0; i < m.attachments.size(); ++i) {
        const auto& page = m.attachments[i];
        names << QString("<a href='chat:page/%1/%2' style='color:#777'>%3</a>").arg(index).arg(i).arg(pageName(page).toHtmlEscaped());
    }
    return names.join(", ");
}

// Where the finished paragraphs of a streamed answer end: just past the last blank line that is outside a fenced
// code block and followed by a line that does not start with a space (which might continue a list item). Scans
// from `from`, which is such a boundary or 0.
int finishedParagraphsEnd(const QString& text, int from) {
    int end = from;
    bool inFence = false;
    int lineStart = from;
    while (lineStart < text.size()) {
        const int newline = text.indexOf('\n', lineStart);
        if (newline < 0) break;  // the last line is still being written
        const auto line = QStringView(text).mid(lineStart, newline - lineStart);
        const auto trimmed = line.trimmed();
        if (trimmed.startsWith(u"```") || trimmed.startsWith(u"~~~")) inFence = !inFence;
        const int next = newline + 1;
        if (!inFence && trimmed.isEmpty() && next < text.size() && !text[next].isSpace()) end = next;
        lineStart = next;
    }
    return end;
}

QString answerFooter(const ChatMessage& m) {
    QStringList parts;
    switch (m.state) {
        case ChatMessage::State::streaming: parts << QObject::tr("writing…"); break;
        case ChatMessage::State::stopped: parts << QObject::tr("stopped"); break;
        case ChatMessage::State::interrupted: parts << QObject::tr("interrupted (the app closed while answering)"); break;
        case ChatMessage::State::failed: parts << QObject::tr("failed"); break;
        case ChatMessage::State::complete:
            if (m.stopReason == "max_tokens") parts << QObject::tr("cut at the token limit");
            if (m.stopReason == "context_full") parts << QObject::tr("context full");
            break;
    }
    const auto& t = m.timings;
    if (t.generatedTokens > 0) {
        parts << QObject::tr("%1 tokens").arg(t.generatedTokens);
        parts << QObject::tr("first token %1 ms").arg(t.timeToFirstTokenMs, 0, 'f', 0);
        if (t.decodeTokensPerSecond > 0) parts << QObject::tr("%1 tok/s").arg(t.decodeTokensPerSecond, 0, 'f', 1);
        if (t.imageTokens > 0) parts << QObject::tr("%1 image tokens").arg(t.imageTokens);
        // Else a first token in milliseconds after a page looks like the model's speed.
        if (t.visionReused) parts << QObject::tr("vision reused");
    }
    return parts.join(" · ");
}
}  // namespace

ChatView::ChatView(QWidget* parent) : QTextBrowser(parent) {
    setObjectName("chatView");
    setOpenLinks(false);
    setOpenExternalLinks(false);
    document()->setDocumentMargin(12);
    connect(this, &QTextBrowser::anchorClicked, this, [this](const QUrl& url) {
        if (url.scheme() != "chat") return;
        const auto action = url.path();
        if (action.startsWith("copy/")) Q_EMIT copyRequested(action.mid(5).toInt());
        else if (action == "regenerate") Q_EMIT regenerateRequested();
        else if (action == "edit") Q_EMIT editRequested();
        else if (action == "attention") Q_EMIT attentionRequested();
        else if (action.startsWith("page/")) {
            const auto parts = action.mid(5).split('/');
            if (parts.size() == 2) Q_EMIT pageRequested(parts[0].toInt(), parts[1].toInt());
        } else if (action.startsWith("box/")) {
            const auto parts = action.mid(4).split('/');
            if (parts.size() == 2) Q_EMIT groundingRequested(parts[0].toInt(), parts[1].toInt());
        }
    });
}

void ChatView::showConversation(const ChatConversation& conversation, bool canRegenerate) {
    clear();
    starts_.clear();
    streamIndex_ = -1;
    if (conversation.messages.isEmpty()) {
        setHtml(tr("<p style='color:#777'>Tick pages or pictures on the left, type a question below and press "
                   "<b>Ctrl+Enter</b>.</p>"));
        return;
    }
    for (int i = 0; i < conversation.messages.size(); ++i) appendMessage(conversation, i, canRegenerate);
    verticalScrollBar()->setValue(verticalScrollBar()->maximum());
}

void ChatView::updateMessage(const ChatConversation& conversation, int index, bool canRegenerate) {
    if (index < 0 || index >= starts_.size() || index != conversation.messages.size() - 1) {
        showConversation(conversation, canRegenerate);
        return;
    }
    auto* bar = verticalScrollBar();
    const bool following = bar->value() >= bar->maximum() - 4;  // keep the reader's place unless at the bottom
    const auto& m = conversation.messages[index];
    if (index == streamIndex_ && m.state == ChatMessage::State::streaming && m.text.startsWith(streamFinished_)) {
        extendStream(m);
        if (following) bar->setValue(bar->maximum());
        return;
    }
    streamIndex_ = -1;  // the positions it kept are about to move
    QTextCursor cursor(document());
    cursor.setPosition(starts_[index]);
    cursor.movePosition(QTextCursor::End, QTextCursor::KeepAnchor);
    cursor.removeSelectedText();
    starts_.resize(index);
    appendMessage(conversation, index, canRegenerate);
    if (following) bar->setValue(bar->maximum());
}

void ChatView::appendMessage(const ChatConversation& conversation, int index, bool canRegenerate) {
    const auto& m = conversation.messages[index];
    const bool last = index == conversation.messages.size() - 1;
    const bool lastQuestion = m.role == ChatMessage::Role::user && index == conversation.messages.size() - 2;
    QTextCursor cursor(document());
    cursor.movePosition(QTextCursor::End);
    // Each message starts with a spaced header block.
    // Where the message begins, its block separator included, so that redrawing it adds no empty line.
    starts_.append(cursor.position());
    QTextBlockFormat headerFormat;
    headerFormat.setTopMargin(index == 0 ? 0 : 14);
    if (!document()->isEmpty()) cursor.insertBlock(headerFormat, QTextCharFormat());
    else cursor.setBlockFormat(headerFormat);

    QString header;
    if (m.role == ChatMessage::Role::user) {
        header = tr("<b style='color:#1d5fa8'>You</b>");
        if (!m.attachments.isEmpty()) header += tr(" <span style='color:#777'>· with %1</span>").arg(attachmentLinks(m, index));
        if (lastQuestion && canRegenerate) header += tr(" &nbsp;<a href='chat:edit'>Edit</a>");
    } else {
        header = tr("<b style='color:#2e7d32'>Model</b>");
        if (m.state != ChatMessage::State::streaming) {
            header += tr(" &nbsp;<a href='chat:copy/%1'>Copy</a>").arg(index);
            if (last && canRegenerate) header += tr(" &nbsp;<a href='chat:regenerate'>Regenerate</a>");
            if (last && canRegenerate && m.state != ChatMessage::State::failed)
                header += tr(" &nbsp;<a href='chat:attention' title='Where each layer looked on the page'>Attention</a>");
        }
    }
    cursor.insertHtml(header);
    cursor.insertBlock(QTextBlockFormat(), QTextCharFormat());
    if (m.role == ChatMessage::Role::user) {
        cursor.insertText(m.text, QTextCharFormat());
    } else if (m.state == ChatMessage::State::failed) {
        cursor.insertHtml(tr("<span style='color:#b00020'>%1</span>").arg(m.error.toHtmlEscaped().replace("\n", "<br>")));
    } else if (m.state == ChatMessage::State::streaming) {
        streamIndex_ = index;
        streamFinished_.clear();
        streamTailStart_ = cursor.position();
        extendStream(m);
        return;  // extendStream drew the footer
    } else if (!m.text.isEmpty()) {
        insertMarkdown(cursor, m.text);
    }
    if (m.role == ChatMessage::Role::assistant && m.state != ChatMessage::State::streaming && !m.text.isEmpty()) {
        // The boxes and points the answer names, each a link that shows it on its page.
        const auto text = m.text.toStdString();
        const auto items = parse_grounding(text);
        if (!items.empty()) {
            QStringList links;
            for (std::size_t i = 0; i < items.size(); ++i) {
                auto label = QString::fromStdString(items[i].label).toHtmlEscaped();
                if (label.isEmpty()) label = tr("%1 %2").arg(items[i].kind == GroundedItem::Kind::point ? tr("point") : tr("box")).arg(i + 1);
                links << QString("<a href='chat:box/%1/%2' style='color:%3'>%4</a>").arg(index).arg(i).arg(PageView::markColour(static_cast<int>(i)).name(), label);
            }
            cursor.movePosition(QTextCursor::End);
            cursor.insertBlock(QTextBlockFormat(), QTextCharFormat());
            cursor.insertHtml(tr("<span style='color:#555'>On the page:</span> %1").arg(links.join(" · ")));
        }
    }
    if (m.role == ChatMessage::Role::assistant) {
        if (const auto footer = answerFooter(m); !footer.isEmpty()) {
            cursor.movePosition(QTextCursor::End);
            cursor.insertBlock(QTextBlockFormat(), QTextCharFormat());
            cursor.insertHtml(QString("<span style='color:#888; font-size:small'>%1</span>").arg(footer.toHtmlEscaped()));
        }
    }
}

void ChatView::extendStream(const ChatMessage& m) {
    QTextCursor cursor(document());
    cursor.setPosition(streamTailStart_);
    cursor.movePosition(QTextCursor::End, QTextCursor::KeepAnchor);
    cursor.removeSelectedText();
    const int finished = streamFinished_.size();
    const int end = finishedParagraphsEnd(m.text, finished);
    if (end > finished) {  // paragraphs finished since the last token: rendered once, kept from now on
        insertMarkdownAfter(cursor, m.text.mid(finished, end - finished), finished > 0);
        streamFinished_ = m.text.left(end);
        streamTailStart_ = cursor.position();
    }
    if (const auto tail = m.text.mid(end); !tail.trimmed().isEmpty()) {
        insertMarkdownAfter(cursor, tail, end > 0);
    }
    if (const auto footer = answerFooter(m); !footer.isEmpty()) {
        cursor.movePosition(QTextCursor::End);
        cursor.insertBlock(QTextBlockFormat(), QTextCharFormat());
        cursor.insertHtml(QString("<span style='color:#888; font-size:small'>%1</span>").arg(footer.toHtmlEscaped()));
    }
}

void ChatView::insertMarkdown(QTextCursor& cursor, const QString& markdown) {
    markdownCharacters_ += markdown.size();
    cursor.insertMarkdown(markdown);
}

void ChatView::insertMarkdownAfter(QTextCursor& cursor, const QString& markdown, bool newBlock) {
    if (!newBlock) {
        insertMarkdown(cursor, markdown);
        return;
    }
    cursor.insertBlock(QTextBlockFormat(), QTextCharFormat());
    const int opened = cursor.position();
    insertMarkdown(cursor, markdown);
    // Markdown that starts with a list or a code block begins blocks of its own and leaves the opened one empty,
    // a blank line the whole answer drawn at once would not have: the empty block goes.
    const auto block = document()->findBlock(opened);
    if (block.length() == 1 && block.next().isValid() && block.position() > 0) {
        QTextCursor gap(document());
        gap.setPosition(block.position() - 1);
        gap.setPosition(block.position(), QTextCursor::KeepAnchor);
        gap.removeSelectedText();
    }
}

bool ChatView::findText(const QString& text, bool backward) {
    if (text.isEmpty()) return false;
    const auto flags = backward ? QTextDocument::FindBackward : QTextDocument::FindFlags();
    if (find(text, flags)) return true;
    // Wrap around once.
    auto cursor = textCursor();
    cursor.movePosition(backward ? QTextCursor::End : QTextCursor::Start);
    setTextCursor(cursor);
    return find(text, flags);
}

}  // namespace deepstack::ui

#include "chat/ConversationExport.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

#include "workspace/WorkspaceModel.h"

namespace deepstack::ui {

namespace {

bool write(const QString& file, const QByteArray& bytes, QString* error) {
    QSaveFile out(file);
    if (!out.open(QIODevice::WriteOnly) || out.write(bytes) != bytes.size() || !out.commit()) {
        if (error != nullptr) *error = QObject::tr("%1 could not be written: %2").arg(file, out.errorString());
        return false;
    }
    return true;
}

}  // namespace

bool exportMarkdown(const ChatConversation& c, const WorkspaceModel& workspace, const QString& file, QString* error) {
    const QFileInfo target(file);
    const auto folderName = target.completeBaseName() + "-pages";
    const QDir folder(target.dir().filePath(folderName));
    QString md = "# " + (c.title.isEmpty() ? QObject::tr("Conversation") : c.title) + "\n\n";
    md += QObject::tr("*%1*").arg(c.created.toString(Qt::ISODate)) + "\n\n";
    if (!c.systemPrompt.isEmpty()) md += QObject::tr("System prompt: %1").arg(c.systemPrompt) + "\n\n";
    int pictures = 0;
    for (const auto& m : c.messages) {
        if (m.role == ChatMessage::Role::user) {
            md += "## " + QObject::tr("Question") + "\n\n" + m.text + "\n\n";
            for (const auto& page : m.attachments) {
                QString problem;
                const auto image = workspace.renderForModel(page, m.renderDpi > 0 ? m.renderDpi : 144, &problem);
                if (image.isNull()) {
                    md += QObject::tr("*%1 (not open when this was exported)*").arg(pageName(page)) + "\n\n";
                    continue;
                }
                if (!folder.exists() && !QDir().mkpath(folder.path())) {
                    if (error != nullptr) *error = QObject::tr("%1 could not be created").arg(folder.path());
                    return false;
                }
                const auto name = QString("page-%1.png").arg(++pictures, 2, 10, QChar('0'));
                if (!image.save(folder.filePath(name), "PNG")) {
                    if (error != nullptr) *error = QObject::tr("%1 could not be written").arg(folder.filePath(name));
                    return false;
                }
                md += QString("![%1](%2/%3)").arg(pageName(page), folderName, name) + "\n\n";
            }
        } else {
            md += "## " + QObject::tr("Answer") + "\n\n" + (m.state == ChatMessage::State::failed ? QObject::tr("(failed: %1)").arg(m.error) : m.text) + "\n\n";
            const auto& t = m.timings;
            if (t.generatedTokens > 0)
                md += QObject::tr("*%1 tokens, first token %2 ms, %3 tok/s, %4 image tokens*")
                          .arg(t.generatedTokens)
                          .arg(t.timeToFirstTokenMs, 0, 'f', 0)
                          .arg(t.decodeTokensPerSecond, 0, 'f', 1)
                          .arg(t.imageTokens) +
                      (t.visionReused ? QObject::tr(" *(vision reused)*") : QString()) + "\n\n";
        }
    }
    return write(file, md.toUtf8(), error);
}

bool exportJson(const ChatConversation& c, const QString& file, QString* error) {
    return write(file, QJsonDocument(c.toJson()).toJson(QJsonDocument::Indented), error);
}

std::optional<ChatConversation> importConversation(const QString& file, QString* error) {
    QFile in(file);
    if (!in.open(QIODevice::ReadOnly)) {
        if (error != nullptr) *error = QObject::tr("%1 cannot be read: %2").arg(file, in.errorString());
        return std::nullopt;
    }
    QJsonParseError parse;
    const auto json = QJsonDocument::fromJson(in.readAll(), &parse);
    if (json.isNull() || !json.isObject()) {
        if (error != nullptr) *error = QObject::tr("%1 is not a conversation: %2").arg(file, parse.errorString());
        return std::nullopt;
    }
    QString problem;
    auto conversation = ChatConversation::fromJson(json.object(), &problem);
    if (!conversation && error != nullptr) *error = QObject::tr("%1 is not a conversation: %2").arg(file, problem);
    return conversation;
}

}  // namespace deepstack::ui

#include "chat/ConversationStore.h"

#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QSaveFile>
#include <QStandardPaths>

#include <algorithm>

namespace deepstack::ui {

ConversationStore::ConversationStore(QString folder) : folder_(std::move(folder)) {
    if (folder_.isEmpty())
        folder_ = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + "/conversations";
}

QString ConversationStore::fileFor(const QString& id) const { return folder_ + "/" + id + ".json"; }

QList<ChatConversation> ConversationStore::loadAll(QStringList* problems) const {
    QList<ChatConversation> all;
    const QDir dir(folder_);
    for (const auto& name : dir.entryList({"*.json"}, QDir::Files, QDir::Name)) {
        QFile file(dir.filePath(name));
        if (!file.open(QIODevice::ReadOnly)) {
            if (problems) problems->append(name + ": " + file.errorString());
            continue;
        }
        QJsonParseError parseError;
        const auto document = QJsonDocument::fromJson(file.readAll(), &parseError);
        if (parseError.error != QJsonParseError::NoError || !document.isObject()) {
            if (problems) problems->append(name + ": not valid JSON (" + parseError.errorString() + ")");
            continue;
        }
        QString why;
        auto conversation = ChatConversation::fromJson(document.object(), &why);
        if (!conversation) {
            if (problems) problems->append(name + ": " + why);
            continue;
        }
        all.append(std::move(*conversation));
    }
    std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.updated > b.updated; });
    return all;
}

bool ConversationStore::save(const ChatConversation& conversation, QString* error) const {
    if (!QDir().mkpath(folder_)) {
        if (error) *error = QString("cannot create the folder %1").arg(folder_);
        return false;
    }
    QSaveFile file(fileFor(conversation.id));
    if (!file.open(QIODevice::WriteOnly)) {
        if (error) *error = QString("%1: %2").arg(file.fileName(), file.errorString());
        return false;
    }
    file.write(QJsonDocument(conversation.toJson()).toJson(QJsonDocument::Indented));
    if (!file.commit()) {
        if (error) *error = QString("%1: %2").arg(file.fileName(), file.errorString());
        return false;
    }
    return true;
}

bool ConversationStore::remove(const QString& id) const { return QFile::remove(fileFor(id)); }

}  // namespace deepstack::ui

// Conversations on disk: one JSON file each in a folder (the XDG data location by default), written atomically
// (QSaveFile) so that a crash or a kill mid-write leaves the previous version whole.
#pragma once

#include <QList>
#include <QString>
#include <QStringList>

#include "chat/ChatTypes.h"

namespace deepstack::ui {

class ConversationStore {
public:
    // `folder` empty: <AppDataLocation>/conversations.
    explicit ConversationStore(QString folder = {});

    const QString& folder() const { return folder_; }
    // Every readable conversation, most recently updated first. Files that cannot be read are left on disk
    // untouched and described in `problems` ("name.json: why").
    QList<ChatConversation> loadAll(QStringList* problems = nullptr) const;
    // Returns false with `error` set when the file could not be written (disk full, no permission).
    bool save(const ChatConversation& conversation, QString* error = nullptr) const;
    bool remove(const QString& id) const;
    QString fileFor(const QString& id) const;

private:
    QString folder_;
};

}  // namespace deepstack::ui

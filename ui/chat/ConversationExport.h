// A conversation out of the app and back: as Markdown (questions, answers, timings, the pages each question was
// about as PNG files in a folder beside it) for reading and sharing, and as JSON (the saved form) to import on
// another machine.
#pragma once

#include <QString>

#include <optional>

#include "chat/ChatTypes.h"

namespace deepstack::ui {

class WorkspaceModel;

// Writes `file` (.md) and, beside it, `<name>-pages/` with each question's pages rendered as the model saw them
// (pages whose document is not open are named, not drawn). False with `error` set when a file cannot be written.
bool exportMarkdown(const ChatConversation& conversation, const WorkspaceModel& workspace, const QString& file, QString* error);

// The saved form, indented; a file that importConversation reads back to the same conversation.
bool exportJson(const ChatConversation& conversation, const QString& file, QString* error);

// Reads an exported (or saved) conversation; nullopt with `error` naming the file and what is wrong.
std::optional<ChatConversation> importConversation(const QString& file, QString* error);

}  // namespace deepstack::ui

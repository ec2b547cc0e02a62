// What a conversation is on disk and on screen: messages, the pages attached to them, settings and timings.
// Plain values, saved as JSON by ConversationStore.
#pragma once

#include <QDateTime>
#include <QJsonObject>
#include <QList>
#include <QString>

#include <optional>

namespace deepstack::ui {

// A page of a document in the workspace (page 0 for a picture).
struct PageRef {
    QString path;
    int page = 0;
    bool operator==(const PageRef&) const = default;
};

// A file whose pages are numbered wherever one is named: a PDF, and a TIFF (scanners write several pages into one).
bool hasNumberedPages(const QString& path);
// "report.pdf p. 2", "photo.jpg": the page as the chat, the demos and the exports name it.
QString pageName(const PageRef& page);

// Names the pictures `pages` become at `dpi` (each file's path, size and time of change, the page, the DPI): equal
// keys render the same pictures, so a model that just encoded one key's pictures keeps their vision pass for the
// other (the engine compares the pictures themselves; this lets the GUI tell in advance).
QString picturesKey(const QList<PageRef>& pages, double dpi);

// The bounds a saved conversation's numbers must keep (ChatConversation::fromJson refuses a file past them).
constexpr double kMaxTemperature = 100.0;
constexpr int kMaxAnswerTokens = 1 << 20;
constexpr int kMaxRenderDpi = 1200;

struct SamplingOptions {
    double temperature = 0.0;  // 0: greedy
    double topP = 1.0;
    int topK = 0;
    int maxTokens = 512;
    quint64 seed = 0;
    bool operator==(const SamplingOptions&) const = default;
};

struct MessageTimings {
    double visionMs = 0;
    double prefillMs = 0;
    double timeToFirstTokenMs = 0;
    double decodeTokensPerSecond = 0;
    qint64 promptTokens = 0;
    qint64 imageTokens = 0;
    qint64 generatedTokens = 0;
    bool visionReused = false;  // the model had just encoded the same pictures: visionMs is not a vision pass
};

// "vision 412" (ms), or "vision reused" when the model had just encoded the same pictures.
QString visionTimeText(const MessageTimings& timings);

struct ChatMessage {
    enum class Role { user, assistant };
    // streaming: being written now (on disk it means the app died mid-answer: read back as interrupted).
    enum class State { complete, streaming, stopped, interrupted, failed };

    Role role = Role::user;
    State state = State::complete;
    QString text;
    QDateTime time;
    QList<PageRef> attachments;  // user messages: the pages shown to the model with this question
    int renderDpi = 0;           // the resolution those pages were rendered at
    QString stopReason;          // assistant: end_of_turn, max_tokens, cancelled, context_full
    QString error;               // assistant: why it failed
    MessageTimings timings;
    QList<qint32> tokens;        // assistant: the ids, valid for `tokensModel` (replayed without re-encoding)
    QString tokensModel;
};

struct ChatConversation {
    QString id;  // also the file name
    QString title;
    QDateTime created;
    QDateTime updated;
    QString systemPrompt;
    SamplingOptions sampling;
    QList<ChatMessage> messages;

    // A question with its answer (whole, stopped or failed) counts as one exchange.
    int exchanges() const;
    QJsonObject toJson() const;
    // nullopt with `error` set when the JSON is not a conversation.
    static std::optional<ChatConversation> fromJson(const QJsonObject& json, QString* error);
    static ChatConversation create(const QString& systemPrompt, const SamplingOptions& sampling);
};

QString toString(ChatMessage::State state);

}  // namespace deepstack::ui

#include "chat/ChatTypes.h"

#include <QCoreApplication>
#include <QFileInfo>
#include <QJsonArray>
#include <QUuid>

namespace deepstack::ui {

namespace {
constexpr int kFormatVersion = 1;

const char* roleName(ChatMessage::Role role) { return role == ChatMessage::Role::user ? "user" : "assistant"; }

std::optional<ChatMessage::State> stateFromName(const QString& name) {
    for (const auto state : {ChatMessage::State::complete, ChatMessage::State::streaming, ChatMessage::State::stopped,
                             ChatMessage::State::interrupted, ChatMessage::State::failed})
        if (toString(state) == name) return state;
    return std::nullopt;
}

QJsonObject timingsToJson(const MessageTimings& t) {
    return {{"vision_ms", t.visionMs},
            {"prefill_ms", t.prefillMs},
            {"time_to_first_token_ms", t.timeToFirstTokenMs},
            {"decode_tokens_per_s", t.decodeTokensPerSecond},
            {"prompt_tokens", t.promptTokens},
            {"image_tokens", t.imageTokens},
            {"generated_tokens", t.generatedTokens},
            {"vision_reused", t.visionReused}};
}

MessageTimings timingsFromJson(const QJsonObject& o) {
    MessageTimings t;
    t.visionMs = o["vision_ms"].toDouble();
    t.prefillMs = o["prefill_ms"].toDouble();
    t.timeToFirstTokenMs = o["time_to_first_token_ms"].toDouble();
    t.decodeTokensPerSecond = o["decode_tokens_per_s"].toDouble();
    t.promptTokens = o["prompt_tokens"].toInteger();
    t.imageTokens = o["image_tokens"].toInteger();
    t.generatedTokens = o["generated_tokens"].toInteger();
    t.visionReused = o["vision_reused"].toBool();
    return t;
}
}  // namespace

bool hasNumberedPages(const QString& path) {
    const auto suffix = QFileInfo(path).suffix().toLower();
    return suffix == "pdf" || suffix == "tif" || suffix == "tiff";
}

QString pageName(const PageRef& page) {
    const auto name = QFileInfo(page.path).fileName();
    return hasNumberedPages(page.path) ? QCoreApplication::translate("PageRef", "%1 p. %2").arg(name).arg(page.page + 1) : name;
}

QString picturesKey(const QList<PageRef>& pages, double dpi) {
    QStringList parts{QString::number(dpi)};
    for (const auto& page : pages) {
        const QFileInfo file(page.path);
        parts << QString("%1#%2#%3#%4").arg(file.absoluteFilePath()).arg(page.page).arg(file.size()).arg(file.lastModified().toMSecsSinceEpoch());
    }
    return parts.join('|');
}

QString visionTimeText(const MessageTimings& t) {
    if (t.visionReused) return QCoreApplication::translate("MessageTimings", "vision reused");
    return QCoreApplication::translate("MessageTimings", "vision %1").arg(t.visionMs, 0, 'f', 0);
}

QString toString(ChatMessage::State state) {
    switch (state) {
        case ChatMessage::State::complete: return "complete";
        case ChatMessage::State::streaming: return "streaming";
        case ChatMessage::State::stopped: return "stopped";
        case ChatMessage::State::interrupted: return "interrupted";
        case ChatMessage::State::failed: return "failed";
    }
    return "complete";
}

int ChatConversation::exchanges() const {
    int count = 0;
    for (const auto& m : messages)
        if (m.role == ChatMessage::Role::assistant) ++count;
    return count;
}

ChatConversation ChatConversation::create(const QString& systemPrompt, const SamplingOptions& sampling) {
    ChatConversation c;
    c.id = QUuid::createUuid().toString(QUuid::WithoutBraces);
    c.created = c.updated = QDateTime::currentDateTime();
    c.systemPrompt = systemPrompt;
    c.sampling = sampling;
    return c;
}

QJsonObject ChatConversation::toJson() const {
    QJsonArray list;
    for (const auto& m : messages) {
        QJsonObject o{{"role", roleName(m.role)}, {"text", m.text}, {"time", m.time.toString(Qt::ISODateWithMs)}};
        if (m.role == ChatMessage::Role::user) {
            QJsonArray pages;
            for (const auto& p : m.attachments) pages.append(QJsonObject{{"path", p.path}, {"page", p.page}});
            o["attachments"] = pages;
            if (m.renderDpi > 0) o["render_dpi"] = m.renderDpi;
        } else {
            o["state"] = toString(m.state);
            if (!m.stopReason.isEmpty()) o["stop_reason"] = m.stopReason;
            if (!m.error.isEmpty()) o["error"] = m.error;
            o["timings"] = timingsToJson(m.timings);
            QJsonArray ids;
            for (const auto token : m.tokens) ids.append(token);
            o["tokens"] = ids;
            o["tokens_model"] = m.tokensModel;
        }
        list.append(o);
    }
    return {{"format", "deepstack-studio-conversation"},
            {"version", kFormatVersion},
            {"id", id},
            {"title", title},
            {"created", created.toString(Qt::ISODateWithMs)},
            {"updated", updated.toString(Qt::ISODateWithMs)},
            {"system_prompt", systemPrompt},
            {"sampling",
             QJsonObject{{"temperature", sampling.temperature},
                         {"top_p", sampling.topP},
                         {"top_k", sampling.topK},
                         {"max_tokens", sampling.maxTokens},
                         {"seed", QString::number(sampling.seed)}}},  // a string: JSON numbers lose 64-bit seeds
            {"messages", list}};
}

std::optional<ChatConversation> ChatConversation::fromJson(const QJsonObject& json, QString* error) {
    const auto fail = [error](const QString& why) -> std::optional<ChatConversation> {
        if (error) *error = why;
        return std::nullopt;
    };
    if (json["format"].toString() != "deepstack-studio-conversation") return fail("not a DeepStack Studio conversation");
    if (json["version"].toInt() > kFormatVersion)
        return fail(QString("written by a newer version (format %1)").arg(json["version"].toInt()));
    ChatConversation c;
    c.id = json["id"].toString();
    if (c.id.isEmpty()) return fail("the conversation has no id");
    c.title = json["title"].toString();
    c.created = QDateTime::fromString(json["created"].toString(), Qt::ISODateWithMs);
    c.updated = QDateTime::fromString(json["updated"].toString(), Qt::ISODateWithMs);
    c.systemPrompt = json["system_prompt"].toString();
    const auto s = json["sampling"].toObject();
    c.sampling.temperature = s["temperature"].toDouble(0.0);
    c.sampling.topP = s["top_p"].toDouble(1.0);
    c.sampling.topK = s["top_k"].toInt(0);
    c.sampling.maxTokens = s["max_tokens"].toInt(512);
    c.sampling.seed = s["seed"].toString().toULongLong();
    // A file may come from anywhere: numbers that would reach the sampler or the renderer are bounded here.
    if (!(c.sampling.temperature >= 0 && c.sampling.temperature <= kMaxTemperature) || !(c.sampling.topP > 0 && c.sampling.topP <= 1) ||
        c.sampling.topK < 0 || c.sampling.maxTokens < 1 || c.sampling.maxTokens > kMaxAnswerTokens)
        return fail(QString("its sampling settings are out of range (temperature %1, top-p %2, top-k %3, %4 tokens)")
                        .arg(c.sampling.temperature).arg(c.sampling.topP).arg(c.sampling.topK).arg(c.sampling.maxTokens));
    for (const auto& value : json["messages"].toArray()) {
        const auto o = value.toObject();
        ChatMessage m;
        const auto role = o["role"].toString();
        if (role != "user" && role != "assistant") return fail(QString("a message has the role '%1'").arg(role));
        m.role = role == "user" ? ChatMessage::Role::user : ChatMessage::Role::assistant;
        m.text = o["text"].toString();
        m.time = QDateTime::fromString(o["time"].toString(), Qt::ISODateWithMs);
        if (m.role == ChatMessage::Role::user) {  // pages go with questions only (an answer's are not written back)
            for (const auto& page : o["attachments"].toArray()) {
                const auto number = page.toObject()["page"].toInt(-1);
                if (number < 0) return fail(QString("a message names page %1 of %2").arg(number).arg(page.toObject()["path"].toString()));
                m.attachments.append({page.toObject()["path"].toString(), number});
            }
            m.renderDpi = o["render_dpi"].toInt(0);
            // A page rendered at 10 000 DPI would be gigapixels: the resolutions the app offers are 72-300.
            if (m.renderDpi < 0 || m.renderDpi > kMaxRenderDpi) return fail(QString("a message's pages were rendered at %1 DPI").arg(m.renderDpi));
        } else {
            const auto state = stateFromName(o["state"].toString("complete"));
            if (!state) return fail(QString("a message has the state '%1'").arg(o["state"].toString()));
            // A reply that was still streaming when the file was written lost its end when the app stopped.
            m.state = *state == ChatMessage::State::streaming ? ChatMessage::State::interrupted : *state;
            m.stopReason = o["stop_reason"].toString();
            m.error = o["error"].toString();
            m.timings = timingsFromJson(o["timings"].toObject());
            for (const auto& token : o["tokens"].toArray()) m.tokens.append(token.toInt());
            m.tokensModel = o["tokens_model"].toString();
        }
        c.messages.append(m);
    }
    return c;
}

}  // namespace deepstack::ui

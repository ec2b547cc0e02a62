// A saved conversation (the app's JSON, read by ChatConversation::fromJson): Qt parses the text, our reader the
// fields. What it accepts must keep the bounds the app relies on, and write out and read back to the same thing.
#include <QJsonDocument>

#include <cmath>
#include <cstdlib>

#include "chat/ChatTypes.h"

using deepstack::ui::ChatConversation;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto bytes = QByteArray::fromRawData(reinterpret_cast<const char*>(data), static_cast<qsizetype>(size));
    QJsonParseError parseError;
    const auto document = QJsonDocument::fromJson(bytes, &parseError);
    if (parseError.error != QJsonParseError::NoError || !document.isObject()) return 0;
    QString why;
    const auto conversation = ChatConversation::fromJson(document.object(), &why);
    if (!conversation) {
        if (why.isEmpty()) std::abort();  // a refusal always says why
        return 0;
    }
    const auto& s = conversation->sampling;
    if (!(s.temperature >= 0 && s.temperature <= deepstack::ui::kMaxTemperature) || !(s.topP > 0 && s.topP <= 1) || s.topK < 0 ||
        s.maxTokens < 1 || s.maxTokens > deepstack::ui::kMaxAnswerTokens)
        std::abort();
    for (const auto& m : conversation->messages) {
        if (m.renderDpi < 0 || m.renderDpi > deepstack::ui::kMaxRenderDpi) std::abort();
        for (const auto& page : m.attachments)
            if (page.page < 0) std::abort();
    }
    // Written out and read back: the same conversation (a streaming reply reads back as interrupted, once).
    const auto again = ChatConversation::fromJson(conversation->toJson(), &why);
    if (!again || again->messages.size() != conversation->messages.size() || again->id != conversation->id ||
        again->sampling != conversation->sampling)
        std::abort();
    for (qsizetype i = 0; i < again->messages.size(); ++i)
        if (again->messages[i].text != conversation->messages[i].text || again->messages[i].tokens != conversation->messages[i].tokens ||
            again->messages[i].attachments != conversation->messages[i].attachments)
            std::abort();
    return 0;
}

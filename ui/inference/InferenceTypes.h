// What crosses between the GUI thread and the inference thread: plain Qt values, copied through queued signals.
#pragma once

#include <QImage>
#include <QList>
#include <QMetaType>
#include <QString>

#include <memory>
#include <optional>

#include "chat/ChatTypes.h"
#include "deepstack/attention.h"
#include "deepstack/stack_effects.h"

namespace deepstack::ui {

enum class DeviceChoice { cpu, cuda };
enum class ComputeChoice { automatic, bf16, f32 };
// The language model's matrices: as computed, or quantized as the model loads (the CPU only).
enum class WeightsChoice { automatic, q8_0, q4_k, q4_0 };

struct LoadRequest {
    QString folder;  // a model folder or GGUF file; with `server`, the id of the model that server serves
    // An OpenAI-compatible serving engine's API root ("http://host:8080/v1"); empty: the model runs here.
    QString server;
    QString apiKey;  // for `server`; never written into conversations or logs
    DeviceChoice device = DeviceChoice::cpu;
    ComputeChoice compute = ComputeChoice::automatic;
    WeightsChoice weights = WeightsChoice::automatic;
    qint64 contextTokens = 4096;
    qint64 maxImagePixels = 0;  // the largest picture the model reads, pixels after resizing; 0: automatic
};

struct LoadedModel {
    QString folder;
    QString family;
    QString displayName;
    QString device;   // "cpu", "cuda:0"
    QString compute;  // "f32", "bf16", or the quantized matrices' format ("q8_0", "q4_k", "q4_0")
    qint64 parameters = 0;
    qint64 contextTokens = 0;
    qint64 maxImagePixels = 0;  // the picture budget in effect; 0 for a family with a fixed picture size
    SamplingOptions defaults;
};

struct TurnInput {
    QString text;
    QList<QImage> images;  // RGB888, shown to the model before the text
};

// An earlier exchange, for a worker that does not hold the conversation (a restart, another model).
struct ReplayedExchange {
    TurnInput question;
    QString reply;
    QList<qint32> replyTokens;  // empty when they belong to another model
};

struct GenerateRequest {
    QString conversationId;
    QString systemPrompt;
    int keepExchanges = 0;            // exchanges before this question that stay in the conversation
    QList<ReplayedExchange> history;  // exactly keepExchanges entries, or empty when the worker holds them
    TurnInput question;
    SamplingOptions sampling;
    QString picturesKey;  // the question's pictures (picturesKey()); empty: not known
};

struct GenerateResult {
    QString conversationId;
    QString stopReason;
    QList<qint32> tokens;
    MessageTimings timings;
    qint64 contextTokens = 0;
    qint64 contextCapacity = 0;
    // Set when this request left the model's kept vision pass on other pictures: their key, or empty when they are
    // not known (pictures of earlier questions encoded again, a pass cut short).
    std::optional<QString> encodedPictures;
};

// The recorded attention of a conversation's latest exchange (the core's plain data; shared, never copied).
using AttentionCapturePtr = std::shared_ptr<const deepstack::AttentionCapture>;

// What every stacked group changes in a conversation's latest exchange: the injection map, each group left out
// alone, and all of them left out together.
struct StackEffects {
    deepstack::InjectionMap map;
    std::vector<deepstack::Ablation> each;  // group 1, 2, ... of the plan
    deepstack::Ablation all;
};
using StackEffectsPtr = std::shared_ptr<const StackEffects>;

}  // namespace deepstack::ui

Q_DECLARE_METATYPE(deepstack::ui::AttentionCapturePtr)
Q_DECLARE_METATYPE(deepstack::ui::StackEffectsPtr)
Q_DECLARE_METATYPE(deepstack::ui::LoadRequest)
Q_DECLARE_METATYPE(deepstack::ui::LoadedModel)
Q_DECLARE_METATYPE(deepstack::ui::GenerateRequest)
Q_DECLARE_METATYPE(deepstack::ui::GenerateResult)

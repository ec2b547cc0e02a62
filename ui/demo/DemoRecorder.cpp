#include "demo/DemoRecorder.h"

#include <QFileInfo>

#include "chat/ChatController.h"
#include "inference/InferenceService.h"
#include "workspace/WorkspaceModel.h"

namespace deepstack::ui {

DemoRecorder::DemoRecorder(ChatController& chat, InferenceService& service, WorkspaceModel& workspace, QObject* parent)
    : QObject(parent), chat_(chat), workspace_(workspace) {
    connect(&chat_, &ChatController::busyChanged, this, [this](bool busy) {
        if (!active_) return;
        if (busy) beginExchange();
        else endExchange();
    });
    connect(&service, &InferenceService::textStreamed, this, [this](const QString& id, const QString& text, int) {
        if (inExchange_ && id == conversationId_) current_.pieces.append({static_cast<double>(clock_.nsecsElapsed()) / 1e6, text});
    });
    connect(&service, &InferenceService::attentionCaptured, this, [this](const QString& id, const AttentionCapturePtr& capture) {
        if (active_ && !inExchange_ && id == conversationId_ && !recording_.exchanges.isEmpty()) recording_.exchanges.back().attention = capture;
    });
}

void DemoRecorder::start(const QString& modelDescription) {
    recording_ = Recording{modelDescription, QDateTime::currentDateTime(), {}, {}};
    pageKeys_.clear();
    active_ = true;
    inExchange_ = false;
}

Recording DemoRecorder::stop() {
    active_ = false;
    inExchange_ = false;
    return recording_;
}

void DemoRecorder::beginExchange() {
    const auto& messages = chat_.current().messages;
    if (messages.size() < 2) return;
    const auto& question = messages[messages.size() - 2];
    current_ = RecordedExchange{};
    current_.question = question.text;
    for (const auto& page : question.attachments) {
        const auto dpi = question.renderDpi > 0 ? question.renderDpi : chat_.renderDpi();
        const auto key = QString("%1|%2|%3").arg(page.path).arg(page.page).arg(dpi);
        auto index = pageKeys_.indexOf(key);
        if (index < 0) {
            QString error;
            const auto image = workspace_.renderForModel(page, dpi, &error);
            if (image.isNull()) continue;
            recording_.pages.append({pageName(page), image});
            pageKeys_.append(key);
            index = static_cast<int>(pageKeys_.size()) - 1;
        }
        current_.pages.append(index);
    }
    conversationId_ = chat_.current().id;
    inExchange_ = true;
    clock_.start();
}

void DemoRecorder::endExchange() {
    if (!inExchange_) return;
    inExchange_ = false;
    const auto& messages = chat_.current().messages;
    if (messages.isEmpty() || chat_.current().id != conversationId_) return;
    const auto& answer = messages.back();
    current_.answer = answer.text;
    current_.stopReason = answer.stopReason;
    current_.timings = answer.timings;
    current_.totalMs = static_cast<double>(clock_.nsecsElapsed()) / 1e6;
    recording_.exchanges.append(current_);
}

}  // namespace deepstack::ui

#include "chat/ChatController.h"

#include <QEventLoop>
#include <QTimer>
#include <QUuid>

#include <chrono>
#include <future>

#include "chat/ConversationExport.h"

#include "inference/InferenceService.h"
#include "workspace/WorkspaceModel.h"

namespace deepstack::ui {

namespace {

QString titleFrom(const QString& question) {
    auto title = question.simplified();
    if (title.size() > 60) title = title.left(57) + "...";
    return title.isEmpty() ? QObject::tr("Question about pages") : title;
}
}  // namespace

ChatController::ChatController(InferenceService& service, WorkspaceModel& workspace, ConversationStore store, QObject* parent)
    : QObject(parent), service_(service), workspace_(workspace), store_(std::move(store)) {
    conversations_.append(ChatConversation::create({}, {}));
    connect(&service_, &InferenceService::textStreamed, this, &ChatController::onText);
    connect(&service_, &InferenceService::generationFinished, this, &ChatController::onFinished);
    connect(&service_, &InferenceService::generationFailed, this, &ChatController::onFailed);
    // A new model holds no conversation.
    connect(&service_, &InferenceService::loadStarted, this, [this] { heldId_.clear(); });
    connect(&service_, &InferenceService::modelUnloaded, this, [this] { heldId_.clear(); });
}

void ChatController::restore() {
    QStringList problems;
    auto saved = store_.loadAll(&problems);
    if (!problems.isEmpty()) Q_EMIT restoreProblems(problems);
    if (saved.isEmpty()) saved.append(ChatConversation::create({}, service_.model() ? service_.model()->defaults : SamplingOptions{}));
    conversations_ = saved;
    current_ = 0;
    Q_EMIT conversationsChanged();
    Q_EMIT messagesReset();
}

void ChatController::newConversation() {
    if (busy_) stop();
    // An empty chat at the top is reused rather than piling up.
    if (!conversations_.isEmpty() && conversations_.front().messages.isEmpty()) {
        current_ = 0;
    } else {
        const auto sampling = service_.model() ? service_.model()->defaults : current().sampling;
        conversations_.prepend(ChatConversation::create(current().systemPrompt, sampling));
        current_ = 0;
    }
    Q_EMIT conversationsChanged();
    Q_EMIT messagesReset();
}

bool ChatController::importConversation(const QString& file, QString* error) {
    auto imported = deepstack::ui::importConversation(file, error);
    if (!imported) return false;
    if (busy_) stop();
    // A new id: importing the same file twice, or one exported from this machine, keeps both.
    imported->id = QUuid::createUuid().toString(QUuid::WithoutBraces);
    conversations_.prepend(*imported);
    current_ = 0;
    save(0);
    Q_EMIT conversationsChanged();
    Q_EMIT messagesReset();
    return true;
}

void ChatController::selectConversation(int index) {
    if (index < 0 || index >= conversations_.size() || index == current_) return;
    current_ = index;
    Q_EMIT conversationsChanged();
    Q_EMIT messagesReset();
}

void ChatController::deleteConversation(int index) {
    if (index < 0 || index >= conversations_.size()) return;
    if (busy_ && conversations_[index].id == answeringId_) stop();
    store_.remove(conversations_[index].id);
    if (conversations_[index].id == heldId_) heldId_.clear();
    conversations_.removeAt(index);
    if (conversations_.isEmpty()) conversations_.append(ChatConversation::create({}, service_.model() ? service_.model()->defaults : SamplingOptions{}));
    current_ = std::min(current_, static_cast<int>(conversations_.size()) - 1);
    Q_EMIT conversationsChanged();
    Q_EMIT messagesReset();
}

void ChatController::setSystemPrompt(const QString& prompt) {
    auto& c = conversations_[current_];
    if (c.systemPrompt == prompt) return;
    c.systemPrompt = prompt;
    save(current_);
}

void ChatController::setSampling(const SamplingOptions& sampling) {
    auto& c = conversations_[current_];
    if (c.sampling == sampling) return;
    c.sampling = sampling;
    save(current_);
}

bool ChatController::send(const QString& text) {
    if (busy_) return false;
    const auto question = text.trimmed();
    if (question.isEmpty()) return false;
    if (!service_.model()) {
        Q_EMIT errorOccurred(service_.isLoading() ? tr("The model is still loading; ask again when it is ready.")
                                                  : tr("Load a model first (Model › Models…)."));
        return false;
    }
    ChatMessage message;
    message.role = ChatMessage::Role::user;
    message.text = question;
    message.time = QDateTime::currentDateTime();
    message.attachments = workspace_.attachedPages();
    message.renderDpi = renderDpi_;
    // Render now so that a page that cannot be shown stops the question before anything changes.
    TurnInput input;
    if (!renderQuestion(message, &input)) return false;
    auto& c = conversations_[current_];
    if (c.title.isEmpty()) c.title = titleFrom(question);
    c.messages.append(message);
    workspace_.clearAttachments();
    startAnswer(static_cast<int>(c.messages.size()) - 1, std::move(input));
    return true;
}

bool ChatController::renderQuestion(const ChatMessage& question, TurnInput* input) {
    QStringList problems;
    *input = questionInput(question, &problems);
    if (problems.isEmpty()) return true;
    Q_EMIT errorOccurred(problems.join("\n"));
    return false;
}

TurnInput ChatController::questionInput(const ChatMessage& question, QStringList* problems) const {
    const double dpi = question.renderDpi > 0 ? question.renderDpi : renderDpi_;
    // QtPdf takes about 60 ms for a dense 300-DPI page here (more for richer pages, once per page asked about): the
    // pages render on another thread while this one goes on drawing and streaming. User input waits in the queue
    // meanwhile, so nothing is asked twice.
    std::vector<WorkspaceModel::PageSource> sources;
    for (const auto& page : question.attachments) sources.push_back(workspace_.pageSource(page));
    auto rendered = std::async(std::launch::async, [sources, dpi] {
        std::vector<std::pair<QImage, QString>> pages;
        for (const auto& source : sources) {
            QString error;
            auto image = WorkspaceModel::renderPageSource(source, dpi, &error);
            pages.emplace_back(std::move(image), error);
        }
        return pages;
    });
    if (rendered.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready) {
        QEventLoop loop;
        QTimer poll;
        QObject::connect(&poll, &QTimer::timeout, &loop, [&] {
            if (rendered.wait_for(std::chrono::milliseconds(0)) == std::future_status::ready) loop.quit();
        });
        poll.start(2);
        loop.exec(QEventLoop::ExcludeUserInputEvents);
    }
    TurnInput input{question.text, {}};
    const auto pages = rendered.get();
    for (std::size_t i = 0; i < pages.size(); ++i) {
        auto [image, error] = pages[i];
        // A file open in the workspace that vanished from disk since: its open document still renders it.
        if (image.isNull() && sources[i].open) image = workspace_.renderForModel(sources[i].page, dpi, &error);
        if (image.isNull()) {
            if (problems) problems->append(error);
            continue;
        }
        input.images.append(image);
    }
    return input;
}

void ChatController::startAnswer(int questionIndex, TurnInput question) {
    auto& c = conversations_[current_];
    const auto& model = *service_.model();
    GenerateRequest request;
    request.conversationId = c.id;
    request.systemPrompt = c.systemPrompt;
    request.sampling = c.sampling;
    request.question = std::move(question);
    if (const auto& asked = c.messages[questionIndex]; request.question.images.size() == asked.attachments.size())  // none failed to render
        request.picturesKey = picturesKey(asked.attachments, asked.renderDpi > 0 ? asked.renderDpi : renderDpi_);
    for (int i = 0; i < questionIndex; ++i)
        if (c.messages[i].role == ChatMessage::Role::assistant) ++request.keepExchanges;
    const bool held = heldId_ == c.id && heldPrompt_ == c.systemPrompt && heldExchanges_ >= request.keepExchanges;
    if (!held) {
        // Pages of earlier questions that no longer open are left out, and the answer may differ: say so.
        QStringList problems;
        for (int i = 0; i + 1 < questionIndex; ++i) {
            const auto& earlier = c.messages[i];
            const auto& reply = c.messages[i + 1];
            if (earlier.role != ChatMessage::Role::user || reply.role != ChatMessage::Role::assistant) continue;
            ReplayedExchange exchange{questionInput(earlier, &problems), reply.text, {}};
            if (reply.tokensModel == model.folder) exchange.replyTokens = reply.tokens;
            request.history.append(exchange);
        }
        if (!problems.isEmpty()) Q_EMIT errorOccurred(tr("Earlier pages could not be shown to the model again:\n%1").arg(problems.join("\n")));
    }

    ChatMessage answer;
    answer.role = ChatMessage::Role::assistant;
    answer.state = ChatMessage::State::streaming;
    answer.time = QDateTime::currentDateTime();
    answer.tokensModel = model.folder;
    c.messages.insert(questionIndex + 1, answer);
    c.updated = QDateTime::currentDateTime();
    answeringId_ = c.id;
    firstTokenMs_ = -1;
    sinceRequest_.start();
    sinceSave_.start();
    save(current_);
    Q_EMIT messagesReset();
    Q_EMIT conversationsChanged();
    setBusy(true);
    service_.generate(request);
}

void ChatController::onText(const QString& conversationId, const QString& text, int tokensSoFar) {
    const int index = indexOf(conversationId);
    if (index < 0) return;  // deleted while answering
    auto& answer = conversations_[index].messages.back();
    answer.text += text;
    if (firstTokenMs_ < 0) firstTokenMs_ = static_cast<double>(sinceRequest_.elapsed());
    const double decodingMs = static_cast<double>(sinceRequest_.elapsed()) - firstTokenMs_;
    Q_EMIT liveStats(firstTokenMs_, decodingMs > 0 && tokensSoFar > 1 ? 1000.0 * (tokensSoFar - 1) / decodingMs : 0, tokensSoFar);
    if (index == current_) Q_EMIT messageChanged(static_cast<int>(conversations_[index].messages.size()) - 1);
    if (sinceSave_.elapsed() >= streamingSaveMs_) save(index);
}

void ChatController::onFinished(const GenerateResult& result) {
    const int index = indexOf(result.conversationId);
    if (index < 0) {
        // Deleted while answering, or another panel's question (the comparison) ran on the one worker: either way
        // the worker no longer holds a conversation of this chat.
        heldId_.clear();
        if (result.conversationId == answeringId_) setBusy(false);
        return;
    }
    // Idle again only once the answer holds its numbers: what watches busyChanged (the recorder, the budget line)
    // reads them.
    struct IdleAtEnd {
        ChatController* chat;
        ~IdleAtEnd() { chat->setBusy(false); }
    } idle{this};
    auto& c = conversations_[index];
    auto& answer = c.messages.back();
    answer.stopReason = result.stopReason;
    answer.state = result.stopReason == "cancelled" ? ChatMessage::State::stopped : ChatMessage::State::complete;
    answer.tokens = result.tokens;
    answer.timings = result.timings;
    c.updated = QDateTime::currentDateTime();
    heldId_ = c.id;
    heldPrompt_ = c.systemPrompt;
    heldExchanges_ = c.exchanges();
    if (result.stopReason == "cancelled" && result.tokens.isEmpty() && result.timings.promptTokens == 0)
        heldId_.clear();  // stopped before the question ran: the worker does not hold it
    save(index);
    if (index == current_) Q_EMIT messageChanged(static_cast<int>(c.messages.size()) - 1);
    // The engine's own clock replaces the live line's: the streamed pieces reach this thread in bursts, so their
    // arrival times understate the decoding time.
    if (result.timings.generatedTokens > 0)
        Q_EMIT liveStats(result.timings.timeToFirstTokenMs, result.timings.decodeTokensPerSecond, static_cast<int>(result.timings.generatedTokens));
    if (result.stopReason == "context_full")
        Q_EMIT errorOccurred(tr("The conversation filled the model's context of %1 tokens; start a new chat to go on.").arg(result.contextCapacity));
}

void ChatController::onFailed(const QString& conversationId, const QString& message) {
    heldId_.clear();
    if (conversationId != answeringId_) return;  // another panel's question: it shows its own error
    setBusy(false);
    const int index = indexOf(conversationId);
    if (index >= 0) {
        auto& answer = conversations_[index].messages.back();
        answer.state = ChatMessage::State::failed;
        answer.error = message;
        save(index);
        if (index == current_) Q_EMIT messageChanged(static_cast<int>(conversations_[index].messages.size()) - 1);
    }
    Q_EMIT errorOccurred(message);
}

void ChatController::stop() {
    if (busy_) service_.stop(InferenceService::RequestKind::answer);
}

bool ChatController::canRegenerate() const {
    const auto& m = current().messages;
    return !busy_ && service_.model() && m.size() >= 2 && m.back().role == ChatMessage::Role::assistant;
}

void ChatController::regenerate() {
    if (!canRegenerate()) return;
    auto& c = conversations_[current_];
    TurnInput input;
    if (!renderQuestion(c.messages[c.messages.size() - 2], &input)) return;  // the answer stays as it was
    c.messages.removeLast();
    startAnswer(static_cast<int>(c.messages.size()) - 1, std::move(input));
}

bool ChatController::canEditLastQuestion() const { return canRegenerate(); }

void ChatController::editLastQuestion(const QString& text) {
    if (!canEditLastQuestion() || text.trimmed().isEmpty()) return;
    auto& c = conversations_[current_];
    TurnInput input;
    if (!renderQuestion(c.messages[c.messages.size() - 2], &input)) return;
    input.text = text.trimmed();
    c.messages.removeLast();
    c.messages.back().text = text.trimmed();
    c.messages.back().time = QDateTime::currentDateTime();
    if (c.exchanges() == 0) c.title = titleFrom(text);
    startAnswer(static_cast<int>(c.messages.size()) - 1, std::move(input));
}

void ChatController::save(int index) {
    QString error;
    if (!store_.save(conversations_[index], &error)) Q_EMIT errorOccurred(tr("The conversation could not be saved: %1").arg(error));
    sinceSave_.restart();
}

int ChatController::indexOf(const QString& id) const {
    for (int i = 0; i < conversations_.size(); ++i)
        if (conversations_[i].id == id) return i;
    return -1;
}

void ChatController::setBusy(bool busy) {
    if (busy_ == busy) return;
    busy_ = busy;
    Q_EMIT busyChanged(busy);
}

}  // namespace deepstack::ui

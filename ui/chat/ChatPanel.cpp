#include "chat/ChatPanel.h"

#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QToolButton>
#include <QVBoxLayout>

#include "chat/ChatController.h"
#include "FlowLayout.h"
#include "chat/ChatView.h"
#include "workspace/WorkspaceModel.h"

namespace deepstack::ui {

ChatPanel::ChatPanel(ChatController& controller, WorkspaceModel& workspace, QWidget* parent)
    : QWidget(parent), controller_(controller), workspace_(workspace) {
    setObjectName("chatPanel");
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);

    auto* top = new QHBoxLayout;
    conversations_ = new QComboBox(this);
    conversations_->setObjectName("conversationList");
    conversations_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    conversations_->setMinimumContentsLength(20);
    conversations_->setToolTip(tr("Your conversations, most recent first"));
    auto* newChat = new QPushButton(tr("New Chat"), this);
    newChat->setObjectName("newChatButton");
    auto* remove = new QToolButton(this);
    remove->setText(tr("Delete"));
    remove->setToolTip(tr("Delete this conversation"));
    auto* settingsToggle = new QToolButton(this);
    settingsToggle->setObjectName("settingsToggle");
    settingsToggle->setText(tr("Settings"));
    settingsToggle->setCheckable(true);
    top->addWidget(conversations_, 1);
    top->addWidget(newChat);
    top->addWidget(remove);
    top->addWidget(settingsToggle);
    layout->addLayout(top);

    settings_ = new QGroupBox(tr("This conversation"), this);
    settings_->setObjectName("chatSettings");
    auto* form = new QFormLayout(settings_);
    systemPrompt_ = new QPlainTextEdit(settings_);
    systemPrompt_->setObjectName("systemPrompt");
    systemPrompt_->setPlaceholderText(tr("System prompt (optional): how the model should answer"));
    systemPrompt_->setMaximumHeight(64);
    temperature_ = new QDoubleSpinBox(settings_);
    temperature_->setObjectName("temperature");
    temperature_->setRange(0, 2);
    temperature_->setSingleStep(0.1);
    temperature_->setSpecialValueText(tr("0 (greedy)"));
    topP_ = new QDoubleSpinBox(settings_);
    topP_->setRange(0.01, 1);
    topP_->setSingleStep(0.05);
    topK_ = new QSpinBox(settings_);
    topK_->setRange(0, 1000);
    topK_->setSpecialValueText(tr("off"));
    maxTokens_ = new QSpinBox(settings_);
    maxTokens_->setObjectName("maxTokens");
    maxTokens_->setRange(1, 32768);
    seed_ = new QLineEdit(settings_);
    seed_->setValidator(new QRegularExpressionValidator(QRegularExpression("[0-9]{1,19}"), seed_));
    form->addRow(tr("System prompt"), systemPrompt_);
    auto* samplingRow = new QHBoxLayout;
    samplingRow->addWidget(new QLabel(tr("Temperature"), settings_));
    samplingRow->addWidget(temperature_);
    samplingRow->addWidget(new QLabel(tr("Top-p"), settings_));
    samplingRow->addWidget(topP_);
    samplingRow->addWidget(new QLabel(tr("Top-k"), settings_));
    samplingRow->addWidget(topK_);
    form->addRow(samplingRow);
    auto* limitsRow = new QHBoxLayout;
    limitsRow->addWidget(new QLabel(tr("Max tokens"), settings_));
    limitsRow->addWidget(maxTokens_);
    limitsRow->addWidget(new QLabel(tr("Seed"), settings_));
    limitsRow->addWidget(seed_);
    form->addRow(limitsRow);
    settings_->setVisible(false);
    layout->addWidget(settings_);

    view_ = new ChatView(this);
    layout->addWidget(view_, 1);

    findBar_ = new QWidget(this);
    findBar_->setObjectName("findBar");
    auto* findLayout = new QHBoxLayout(findBar_);
    findLayout->setContentsMargins(0, 0, 0, 0);
    findText_ = new QLineEdit(findBar_);
    findText_->setObjectName("findText");
    findText_->setPlaceholderText(tr("Find in chat"));
    findText_->installEventFilter(this);
    auto* previous = new QToolButton(findBar_);
    previous->setText(tr("Previous"));
    auto* next = new QToolButton(findBar_);
    next->setText(tr("Next"));
    findStatus_ = new QLabel(findBar_);
    auto* closeFind = new QToolButton(findBar_);
    closeFind->setText(tr("Close"));
    findLayout->addWidget(findText_, 1);
    findLayout->addWidget(previous);
    findLayout->addWidget(next);
    findLayout->addWidget(findStatus_);
    findLayout->addWidget(closeFind);
    findBar_->setVisible(false);
    layout->addWidget(findBar_);

    attachments_ = new QLabel(this);
    attachments_->setObjectName("attachmentsLabel");
    attachments_->setWordWrap(true);
    layout->addWidget(attachments_);
    pageChoice_ = new QLabel(this);
    pageChoice_->setObjectName("pageChoice");
    pageChoice_->setWordWrap(true);
    pageChoice_->setTextFormat(Qt::RichText);
    pageChoice_->setVisible(false);
    layout->addWidget(pageChoice_);

    suggestions_ = new QWidget(this);
    suggestions_->setObjectName("suggestions");
    new FlowLayout(suggestions_);  // many suggestions wrap onto more rows instead of widening the window
    suggestions_->layout()->setContentsMargins(0, 0, 0, 0);
    suggestions_->setVisible(false);
    layout->addWidget(suggestions_);

    auto* ask = new QHBoxLayout;
    input_ = new QPlainTextEdit(this);
    input_->setObjectName("questionInput");
    input_->setPlaceholderText(tr("Ask about the ticked pages… (Ctrl+Enter sends)"));
    input_->setMaximumHeight(90);
    input_->installEventFilter(this);
    auto* buttons = new QVBoxLayout;
    send_ = new QPushButton(tr("Send"), this);
    send_->setObjectName("sendButton");
    send_->setDefault(true);
    stop_ = new QPushButton(tr("Stop"), this);
    stop_->setObjectName("stopButton");
    stop_->setToolTip(tr("Stop the answer (Esc)"));
    pickPages_ = new QPushButton(tr("Pick Pages"), this);
    pickPages_->setObjectName("pickPages");
    pickPages_->setToolTip(tr("Tick the pages of the document on screen that fit the question best (by their text) and "
                              "fit the model's context"));
    buttons->addWidget(send_);
    buttons->addWidget(stop_);
    buttons->addWidget(pickPages_);
    ask->addWidget(input_, 1);
    ask->addLayout(buttons);
    layout->addLayout(ask);

    stats_ = new QLabel(this);
    stats_->setObjectName("liveStats");
    stats_->setStyleSheet("color: #666");
    layout->addWidget(stats_);

    connect(conversations_, qOverload<int>(&QComboBox::activated), &controller_, &ChatController::selectConversation);
    connect(newChat, &QPushButton::clicked, &controller_, &ChatController::newConversation);
    connect(remove, &QToolButton::clicked, this, [this] { controller_.deleteConversation(controller_.currentIndex()); });
    connect(settingsToggle, &QToolButton::toggled, settings_, &QWidget::setVisible);
    connect(systemPrompt_, &QPlainTextEdit::textChanged, this, &ChatPanel::applySettings);
    for (auto* spin : {temperature_, topP_}) connect(spin, &QDoubleSpinBox::valueChanged, this, &ChatPanel::applySettings);
    for (auto* spin : {topK_, maxTokens_}) connect(spin, &QSpinBox::valueChanged, this, &ChatPanel::applySettings);
    connect(seed_, &QLineEdit::textChanged, this, &ChatPanel::applySettings);
    connect(send_, &QPushButton::clicked, this, &ChatPanel::sendQuestion);
    connect(stop_, &QPushButton::clicked, &controller_, &ChatController::stop);
    connect(pickPages_, &QPushButton::clicked, this, [this] { Q_EMIT pickPagesRequested(input_->toPlainText()); });
    connect(pageChoice_, &QLabel::linkActivated, this, &ChatPanel::pageChoiceLinkActivated);
    connect(attachments_, &QLabel::linkActivated, this, &ChatPanel::budgetLinkActivated);
    connect(findText_, &QLineEdit::returnPressed, this, [this] { findStatus_->setText(view_->findText(findText_->text(), false) ? QString() : tr("not found")); });
    connect(next, &QToolButton::clicked, this, [this] { findStatus_->setText(view_->findText(findText_->text(), false) ? QString() : tr("not found")); });
    connect(previous, &QToolButton::clicked, this, [this] { findStatus_->setText(view_->findText(findText_->text(), true) ? QString() : tr("not found")); });
    connect(closeFind, &QToolButton::clicked, findBar_, &QWidget::hide);

    connect(view_, &ChatView::copyRequested, this, [this](int index) {
        const auto& messages = controller_.current().messages;
        if (index >= 0 && index < messages.size()) QApplication::clipboard()->setText(messages[index].text);
    });
    connect(view_, &ChatView::regenerateRequested, &controller_, &ChatController::regenerate);
    connect(view_, &ChatView::editRequested, this, &ChatPanel::beginEdit);

    connect(&controller_, &ChatController::conversationsChanged, this, [this] {
        refreshConversationList();
        refreshSettings();
    });
    connect(&controller_, &ChatController::messagesReset, this, [this] {
        view_->showConversation(controller_.current(), controller_.canRegenerate());
        refreshAttachments();
    });
    connect(&controller_, &ChatController::messageChanged, this, [this](int index) { view_->updateMessage(controller_.current(), index, controller_.canRegenerate()); });
    connect(&controller_, &ChatController::busyChanged, this, [this](bool busy) {
        updateButtons();
        if (!busy) view_->showConversation(controller_.current(), controller_.canRegenerate());  // actions come back
    });
    connect(&controller_, &ChatController::liveStats, this, [this](double ttft, double tokensPerSecond, int tokens) {
        stats_->setText(tr("First token after %1 ms · %2 tokens · %3 tok/s").arg(ttft, 0, 'f', 0).arg(tokens).arg(tokensPerSecond, 0, 'f', 1));
    });
    connect(&workspace_, &WorkspaceModel::attachmentsChanged, this, &ChatPanel::refreshAttachments);

    refreshConversationList();
    refreshSettings();
    refreshAttachments();
    updateButtons();
    view_->showConversation(controller_.current(), controller_.canRegenerate());
}

void ChatPanel::refreshConversationList() {
    const QSignalBlocker block(conversations_);
    conversations_->clear();
    for (const auto& c : controller_.conversations())
        conversations_->addItem(c.title.isEmpty() ? tr("New conversation") : c.title, c.id);
    conversations_->setCurrentIndex(controller_.currentIndex());
}

void ChatPanel::refreshSettings() {
    const auto& c = controller_.current();
    const QSignalBlocker b1(systemPrompt_), b2(temperature_), b3(topP_), b4(topK_), b5(maxTokens_), b6(seed_);
    if (systemPrompt_->toPlainText() != c.systemPrompt) systemPrompt_->setPlainText(c.systemPrompt);
    temperature_->setValue(c.sampling.temperature);
    topP_->setValue(c.sampling.topP);
    topK_->setValue(c.sampling.topK);
    maxTokens_->setValue(c.sampling.maxTokens);
    seed_->setText(QString::number(c.sampling.seed));
}

void ChatPanel::applySettings() {
    controller_.setSystemPrompt(systemPrompt_->toPlainText());
    controller_.setSampling({temperature_->value(), topP_->value(), topK_->value(), maxTokens_->value(), seed_->text().toULongLong()});
}

void ChatPanel::refreshAttachments() {
    const auto pages = workspace_.attachedPages();
    if (pages.isEmpty()) {
        // A follow-up question still sees every page asked about earlier in the conversation: say so, or the user
        // ticks the same page again and pays for its tokens twice.
        // A page ticked for two questions went in twice: count the pages, and the pictures when they differ.
        qsizetype pictures = 0;
        QList<PageRef> earlier;
        for (const auto& message : controller_.current().messages) {
            pictures += message.attachments.size();
            for (const auto& page : message.attachments)
                if (!earlier.contains(page)) earlier.append(page);
        }
        const auto seen = earlier.size() == 1 ? tr("the page") : tr("the %1 pages").arg(earlier.size());
        const auto twice = pictures > earlier.size() ? tr(" (as %1 pictures: a page ticked again went in again)").arg(pictures) : QString();
        attachments_->setText(pictures == 0 ? tr("<span style='color:#777'>No page ticked: the question goes without a picture.</span>")
                                            : tr("<span style='color:#777'>No page ticked: the question adds no picture; the model still "
                                                 "sees %1 asked about earlier in this conversation%2.</span>").arg(seen, twice));
        return;
    }
    // One entry per file, its pages after it: "report.pdf p. 5, 10, 27 · photo.png".
    QStringList names;
    QString file;
    QStringList numbers;
    const auto flush = [&] {
        if (file.isEmpty()) return;
        const auto name = QFileInfo(file).fileName();
        names << (hasNumberedPages(file) ? tr("%1 p. %2").arg(name, numbers.join(", ")) : name);
        numbers.clear();
    };
    for (const auto& p : pages) {
        if (p.path != file) {
            flush();
            file = p.path;
        }
        numbers << QString::number(p.page + 1);
    }
    flush();
    auto text = tr("With the next question: <b>%1</b>").arg(names.join(" · ").toHtmlEscaped());
    if (budget_)
        if (const auto budget = budget_(pages); !budget.isEmpty()) text += "<br>" + budget;
    attachments_->setText(text);
}

void ChatPanel::setPageChoice(const QString& html) {
    pageChoice_->setText(html);
    pageChoice_->setVisible(!html.isEmpty());
}

QString ChatPanel::attachmentsText() const { return attachments_->text(); }
QString ChatPanel::pageChoiceText() const { return pageChoice_->text(); }

void ChatPanel::updateButtons() {
    const bool busy = controller_.isBusy();
    send_->setEnabled(!busy);
    stop_->setEnabled(busy);
    send_->setText(editing_ ? tr("Resend") : tr("Send"));
}

void ChatPanel::sendQuestion() {
    if (controller_.isBusy()) {
        stats_->setText(tr("Still answering: wait for the end, or press Esc to stop it."));
        return;
    }
    const auto text = input_->toPlainText();
    if (editing_) {
        editing_ = false;
        controller_.editLastQuestion(text);
        input_->clear();
        updateButtons();
        return;
    }
    if (controller_.send(text)) input_->clear();
}

void ChatPanel::beginEdit() {
    const auto& messages = controller_.current().messages;
    if (!controller_.canEditLastQuestion()) return;
    input_->setPlainText(messages[messages.size() - 2].text);
    editing_ = true;
    updateButtons();
    focusQuestion();
}

void ChatPanel::showFind() {
    findBar_->setVisible(true);
    findText_->setFocus();
    findText_->selectAll();
}

void ChatPanel::focusQuestion() {
    input_->setFocus();
    input_->moveCursor(QTextCursor::End);
}

void ChatPanel::setSuggestions(const QStringList& questions) {
    auto* layout = suggestions_->layout();
    while (auto* item = layout->takeAt(0)) {
        delete item->widget();
        delete item;
    }
    for (const auto& q : questions) {
        auto* button = new QToolButton(suggestions_);
        button->setText(q);
        button->setAutoRaise(true);
        button->setStyleSheet("QToolButton { border: 1px solid #bbb; border-radius: 9px; padding: 2px 8px; }");
        connect(button, &QToolButton::clicked, this, [this, q] {
            input_->setPlainText(q);
            focusQuestion();
        });
        layout->addWidget(button);
    }
    suggestions_->setVisible(!questions.isEmpty());
}

bool ChatPanel::eventFilter(QObject* watched, QEvent* event) {
    // Esc in the find box closes the box, not the answer (the window's Stop shortcut is also Esc).
    if (event->type() == QEvent::ShortcutOverride && watched == findText_ && static_cast<QKeyEvent*>(event)->key() == Qt::Key_Escape) {
        event->accept();
        return true;
    }
    if (event->type() == QEvent::KeyPress) {
        const auto* key = static_cast<QKeyEvent*>(event);
        if (watched == input_ && (key->key() == Qt::Key_Return || key->key() == Qt::Key_Enter) &&
            (key->modifiers() & Qt::ControlModifier)) {
            sendQuestion();
            return true;
        }
        if (watched == findText_ && key->key() == Qt::Key_Escape) {
            findBar_->hide();
            view_->setFocus();
            return true;
        }
    }
    return QWidget::eventFilter(watched, event);
}

}  // namespace deepstack::ui

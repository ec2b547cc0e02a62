// The chat side of the window: conversation picker, per-chat settings (system prompt, sampling), the messages,
// find, the question box with Send and Stop, and live statistics while an answer streams.
#pragma once

#include <QList>
#include <QWidget>

#include <functional>

#include "chat/ChatTypes.h"

class QComboBox;
class QDoubleSpinBox;
class QGroupBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;
class QWidget;

namespace deepstack::ui {

class ChatController;
class ChatView;
class WorkspaceModel;

class ChatPanel : public QWidget {
    Q_OBJECT
public:
    ChatPanel(ChatController& controller, WorkspaceModel& workspace, QWidget* parent = nullptr);

    ChatView* view() const { return view_; }
    QPlainTextEdit* input() const { return input_; }
    void sendQuestion();
    void showFind();
    void focusQuestion();
    // Offered under the question box (the demo model's sample questions); clicking one fills the box.
    void setSuggestions(const QStringList& questions);
    // What the ticked pages will cost, as a line of rich text after their names (the image tokens, the room in the
    // context, the time); called whenever the ticked pages change and on refreshBudget().
    void setBudgetText(std::function<QString(const QList<PageRef>&)> budget) { budget_ = std::move(budget); }
    void refreshBudget() { refreshAttachments(); }
    // The outcome of Pick Pages, with links (page:N) that swap a left-out page in; empty hides it.
    void setPageChoice(const QString& html);
    QString attachmentsText() const;
    QString pageChoiceText() const;

Q_SIGNALS:
    // Pick Pages: choose the pages of the document on screen that fit this question best.
    void pickPagesRequested(const QString& question);
    void pageChoiceLinkActivated(const QString& link);
    void budgetLinkActivated(const QString& link);  // "fit": fit the ticked pages to the context

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void refreshConversationList();
    void refreshSettings();
    void applySettings();
    void refreshAttachments();
    void updateButtons();
    void beginEdit();

    ChatController& controller_;
    WorkspaceModel& workspace_;
    QComboBox* conversations_ = nullptr;
    QGroupBox* settings_ = nullptr;
    QPlainTextEdit* systemPrompt_ = nullptr;
    QDoubleSpinBox* temperature_ = nullptr;
    QDoubleSpinBox* topP_ = nullptr;
    QSpinBox* topK_ = nullptr;
    QSpinBox* maxTokens_ = nullptr;
    QLineEdit* seed_ = nullptr;
    ChatView* view_ = nullptr;
    QWidget* findBar_ = nullptr;
    QLineEdit* findText_ = nullptr;
    QLabel* findStatus_ = nullptr;
    QLabel* attachments_ = nullptr;
    QLabel* pageChoice_ = nullptr;
    QPushButton* pickPages_ = nullptr;
    std::function<QString(const QList<PageRef>&)> budget_;
    QWidget* suggestions_ = nullptr;
    QPlainTextEdit* input_ = nullptr;
    QPushButton* send_ = nullptr;
    QPushButton* stop_ = nullptr;
    QLabel* stats_ = nullptr;
    bool editing_ = false;
};

}  // namespace deepstack::ui

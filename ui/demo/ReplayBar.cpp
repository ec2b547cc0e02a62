#include "demo/ReplayBar.h"

#include <QComboBox>
#include <QDir>
#include <QHBoxLayout>
#include <QLabel>
#include <QFileInfo>
#include <QPushButton>
#include <QRegularExpression>

#include "Counted.h"
#include "attention/AttentionPanel.h"
#include "chat/ChatView.h"
#include "workspace/WorkspaceModel.h"

namespace deepstack::ui {

namespace {
constexpr double kGapMs = 1500;  // between one answer and the next question, in recorded time
constexpr int kTickMs = 5;
}  // namespace

ReplayBar::ReplayBar(ChatView& view, AttentionPanel& attention, WorkspaceModel& workspace, QWidget* parent)
    : QWidget(parent), view_(view), attention_(attention), workspace_(workspace) {
    setObjectName("replayBar");
    setAutoFillBackground(true);
    setStyleSheet("#replayBar { background: #fff3cd; border: 1px solid #e0b84c; }");
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(8, 4, 8, 4);
    banner_ = new QLabel(this);
    banner_->setObjectName("replayBanner");
    banner_->setWordWrap(true);
    speedChoice_ = new QComboBox(this);
    speedChoice_->setObjectName("replaySpeed");
    for (const double s : {1.0, 2.0, 4.0, 8.0}) speedChoice_->addItem(tr("%1x").arg(s), s);
    end_ = new QPushButton(tr("End Replay"), this);
    end_->setObjectName("endReplay");
    layout->addWidget(banner_, 1);
    layout->addWidget(new QLabel(tr("Speed"), this));
    layout->addWidget(speedChoice_);
    layout->addWidget(end_);
    setVisible(false);
    timer_.setInterval(kTickMs);
    timer_.setTimerType(Qt::PreciseTimer);
    connect(&timer_, &QTimer::timeout, this, &ReplayBar::tick);
    connect(speedChoice_, &QComboBox::currentIndexChanged, this, [this] { setSpeed(speedChoice_->currentData().toDouble()); });
    connect(end_, &QPushButton::clicked, this, [this] {
        stop();
        Q_EMIT ended();
    });
}

QString ReplayBar::bannerText() const { return banner_->text(); }

bool ReplayBar::play(Recording recording, QString* error) {
    stop();
    recording_ = std::move(recording);
    pageRefs_.clear();
    if (!pagesDir_.isValid()) {
        if (error != nullptr) *error = tr("No folder for the recording's pages could be made");
        return false;
    }
    // The pages as pictures the workspace opens like any other: the page links and the strip work as they did.
    for (int i = 0; i < recording_.pages.size(); ++i) {
        const auto& page = recording_.pages[i];
        auto name = page.name;
        name.replace(QRegularExpression("[^A-Za-z0-9._-]+"), "-");
        const auto file = QDir(pagesDir_.path()).filePath(QString("%1-%2.png").arg(i + 1, 2, 10, QChar('0')).arg(name));
        if (!page.image.save(file, "PNG") || workspace_.openFile(file, error) < 0) {
            if (error != nullptr && error->isEmpty()) *error = tr("%1 could not be written").arg(file);
            return false;
        }
        pageRefs_.append({QFileInfo(file).absoluteFilePath(), 0});
    }
    shown_ = ChatConversation::create({}, {});
    shown_.title = tr("Recording of %1").arg(recording_.created.toString(Qt::ISODate));
    shownAt_.clear();
    exchange_ = 0;
    playing_ = true;
    banner_->setText(tr("<b>Replaying a recording</b>, not a live model: %1, recorded %2, %3.")
                         .arg(recording_.model.toHtmlEscaped(), recording_.created.toString("yyyy-MM-dd hh:mm"),
                              counted(recording_.exchanges.size(), tr("exchange"), tr("exchanges"))));
    setVisible(true);
    if (recording_.exchanges.isEmpty()) {
        playing_ = false;
        Q_EMIT finished();
        return true;
    }
    startExchange();
    timer_.start();
    return true;
}

void ReplayBar::stop() {
    timer_.stop();
    playing_ = false;
    setVisible(false);
}

void ReplayBar::setSpeed(double speed) {
    if (speed <= 0 || speed == speed_) return;
    offsetMs_ += static_cast<double>(clock_.nsecsElapsed()) / 1e6 * speed_;
    clock_.restart();
    speed_ = speed;
    const auto index = speedChoice_->findData(speed);
    if (index >= 0 && index != speedChoice_->currentIndex()) speedChoice_->setCurrentIndex(index);
}

void ReplayBar::startExchange() {
    const auto& e = recording_.exchanges[exchange_];
    ChatMessage question;
    question.text = e.question;
    question.time = QDateTime::currentDateTime();
    for (const auto i : e.pages) question.attachments.append(pageRefs_[i]);
    ChatMessage answer;
    answer.role = ChatMessage::Role::assistant;
    answer.state = ChatMessage::State::streaming;
    answer.time = question.time;
    shown_.messages.append(question);
    shown_.messages.append(answer);
    view_.showConversation(shown_, false);
    shownAt_.append(QList<double>());
    piece_ = 0;
    offsetMs_ = 0;
    betweenExchanges_ = false;
    clock_.start();
}

void ReplayBar::tick() {
    const auto now = offsetMs_ + static_cast<double>(clock_.nsecsElapsed()) / 1e6 * speed_;
    if (betweenExchanges_) {
        if (now < kGapMs) return;
        ++exchange_;
        startExchange();
        return;
    }
    const auto& e = recording_.exchanges[exchange_];
    bool changed = false;
    while (piece_ < e.pieces.size() && e.pieces[piece_].atMs <= now) {
        shown_.messages.back().text += e.pieces[piece_].text;
        shownAt_.back().append(now);
        ++piece_;
        changed = true;
    }
    if (changed) view_.updateMessage(shown_, static_cast<int>(shown_.messages.size()) - 1, false);
    if (piece_ == e.pieces.size() && now >= e.totalMs) finishExchange();
}

void ReplayBar::finishExchange() {
    const auto& e = recording_.exchanges[exchange_];
    auto& answer = shown_.messages.back();
    answer.text = e.answer;
    answer.state = ChatMessage::State::complete;
    answer.stopReason = e.stopReason;
    answer.timings = e.timings;
    view_.updateMessage(shown_, static_cast<int>(shown_.messages.size()) - 1, false);
    if (e.attention) attention_.showCapture(shown_.id, e.attention);
    if (exchange_ + 1 >= recording_.exchanges.size()) {
        timer_.stop();
        playing_ = false;
        banner_->setText(banner_->text() + tr(" <i>Finished.</i>"));
        Q_EMIT finished();
        return;
    }
    betweenExchanges_ = true;
    offsetMs_ = 0;
    clock_.restart();
}

}  // namespace deepstack::ui

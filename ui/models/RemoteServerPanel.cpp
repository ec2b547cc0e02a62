#include "models/RemoteServerPanel.h"

#include <QComboBox>
#include <QFormLayout>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QtConcurrent/QtConcurrentRun>

#include "Counted.h"
#include "deepstack/error.h"
#include "deepstack/remote.h"
#include "models/ApiKeyStore.h"

namespace deepstack::ui {

namespace {
const char* kServerKey = "models/server";
}  // namespace

RemoteServerPanel::RemoteServerPanel(QWidget* parent) : QGroupBox(tr("Chat through a serving engine"), parent) {
    setObjectName("remoteServer");
    auto* form = new QFormLayout(this);
    address_ = new QLineEdit(QSettings().value(kServerKey).toString(), this);
    address_->setObjectName("serverAddress");
    address_->setPlaceholderText(tr("the API's root: http://127.0.0.1:8080/v1 (llama-server), http://gpu-host:8000/v1 (vLLM)"));
    key_ = new QLineEdit(this);
    key_->setObjectName("serverKey");
    key_->setEchoMode(QLineEdit::Password);
    key_->setPlaceholderText(tr("API key, if the server wants one (kept in the desktop's keyring, or in a file only you can read)"));
    models_ = new QComboBox(this);
    models_->setObjectName("serverModels");
    list_ = new QPushButton(tr("List Models"), this);
    list_->setObjectName("listServerModels");
    connect_ = new QPushButton(tr("Connect"), this);
    connect_->setObjectName("connectServer");
    connect_->setEnabled(false);
    status_ = new QLabel(tr("Models too big for this machine run on a server; the chat works the same, the attention "
                            "views and the stack map need a model running here."),
                         this);
    status_->setObjectName("serverStatus");
    status_->setWordWrap(true);
    auto* row = new QHBoxLayout;
    row->addWidget(models_, 1);
    row->addWidget(list_);
    row->addWidget(connect_);
    form->addRow(tr("Address"), address_);
    form->addRow(tr("Key"), key_);
    form->addRow(tr("Model"), row);
    form->addRow(QString(), status_);

    // The key kept for an address is looked up once it is typed, not at each keystroke: a keyring lookup is a
    // D-Bus round trip on the GUI thread.
    connect(address_, &QLineEdit::textEdited, this, [this] {
        models_->clear();
        connect_->setEnabled(false);
    });
    connect(address_, &QLineEdit::editingFinished, this, [this] { key_->setText(ApiKeyStore::lookup(server())); });
    connect(list_, &QPushButton::clicked, this, &RemoteServerPanel::listModels);
    connect(connect_, &QPushButton::clicked, this, [this] {
        QSettings().setValue(kServerKey, server());
        rememberKey();
        Q_EMIT connectRequested(server(), model(), apiKey());
    });
}

// The keyring is asked when the panel is first shown, not when the app starts (a locked keyring may ask the user
// to unlock it).
void RemoteServerPanel::showEvent(QShowEvent* event) {
    if (!keyLookedUp_) {
        keyLookedUp_ = true;
        if (key_->text().isEmpty()) key_->setText(ApiKeyStore::lookup(server()));
    }
    QGroupBox::showEvent(event);
}

QString RemoteServerPanel::server() const { return address_->text().trimmed(); }
QString RemoteServerPanel::apiKey() const { return key_->text(); }
QString RemoteServerPanel::model() const { return models_->currentText(); }

void RemoteServerPanel::listModels() {
    const auto address = server().toStdString();
    const auto key = apiKey().toStdString();
    status_->setText(tr("Asking %1 for its models…").arg(server()));
    list_->setEnabled(false);
    auto* watcher = new QFutureWatcher<QPair<QStringList, QString>>(this);
    connect(watcher, &QFutureWatcher<QPair<QStringList, QString>>::finished, this, [this, watcher] {
        watcher->deleteLater();
        const auto [ids, problem] = watcher->result();
        list_->setEnabled(true);
        models_->clear();
        models_->addItems(ids);
        connect_->setEnabled(!ids.isEmpty());
        status_->setText(problem.isEmpty() ? tr("%1 served there.").arg(counted(ids.size(), tr("model"), tr("models")))
                                           : QString("<span style='color:#b00020'>%1</span>").arg(problem.toHtmlEscaped()));
        Q_EMIT modelsListed(ids, problem);
    });
    watcher->setFuture(QtConcurrent::run([address, key]() -> QPair<QStringList, QString> {
        try {
            QStringList ids;
            for (const auto& id : remote_model_ids(address, key)) ids << QString::fromStdString(id);
            return {ids, {}};
        } catch (const std::exception& e) {
            return {{}, QString::fromStdString(e.what())};
        }
    }));
}

// The key goes to the desktop's secret store, or to a file of its own that only the user may read; never to
// QSettings or a conversation.
void RemoteServerPanel::rememberKey() {
    QString why;
    const auto place = ApiKeyStore::store(server(), apiKey(), &why);
    if (apiKey().isEmpty()) key_->setToolTip({});
    else if (place == ApiKeyStore::Place::secretService) key_->setToolTip(tr("Kept in the desktop's keyring (Secret Service)."));
    else if (place == ApiKeyStore::Place::file)
        key_->setToolTip(tr("Kept in %1, readable by you alone: no keyring answered (%2).").arg(ApiKeyStore::keyFile(), why));
    else
        status_->setText(QString("<span style='color:#b00020'>%1</span>")
                             .arg(tr("The key could not be kept for next time (%1); this connection uses it.").arg(why).toHtmlEscaped()));
}

}  // namespace deepstack::ui

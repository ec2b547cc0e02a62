#include "models/RemoteServerPanel.h"

#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QFormLayout>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSaveFile>
#include <QSettings>
#include <QStandardPaths>
#include <QtConcurrent/QtConcurrentRun>

#include "deepstack/error.h"
#include "deepstack/remote.h"

namespace deepstack::ui {

namespace {
const char* kServerKey = "models/server";

QJsonObject read_keys() {
    QFile file(RemoteServerPanel::keyFile());
    if (!file.open(QIODevice::ReadOnly)) return {};
    return QJsonDocument::fromJson(file.readAll()).object();
}
}  // namespace

QString RemoteServerPanel::keyFile() {
    return QStandardPaths::writableLocation(QStandardPaths::AppConfigLocation) + "/server-keys.json";
}

RemoteServerPanel::RemoteServerPanel(QWidget* parent) : QGroupBox(tr("Chat through a serving engine"), parent) {
    setObjectName("remoteServer");
    auto* form = new QFormLayout(this);
    address_ = new QLineEdit(QSettings().value(kServerKey).toString(), this);
    address_->setObjectName("serverAddress");
    address_->setPlaceholderText(tr("the API's root: http://127.0.0.1:8080/v1 (llama-server), http://gpu-host:8000/v1 (vLLM)"));
    key_ = new QLineEdit(this);
    key_->setObjectName("serverKey");
    key_->setEchoMode(QLineEdit::Password);
    key_->setPlaceholderText(tr("API key, if the server wants one (kept readable by you alone)"));
    key_->setText(read_keys().value(address_->text()).toString());
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

    connect(address_, &QLineEdit::textEdited, this, [this] {
        key_->setText(read_keys().value(address_->text().trimmed()).toString());
        models_->clear();
        connect_->setEnabled(false);
    });
    connect(list_, &QPushButton::clicked, this, &RemoteServerPanel::listModels);
    connect(connect_, &QPushButton::clicked, this, [this] {
        QSettings().setValue(kServerKey, server());
        rememberKey();
        Q_EMIT connectRequested(server(), model(), apiKey());
    });
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
        status_->setText(problem.isEmpty() ? tr("%n model(s) served there.", nullptr, static_cast<int>(ids.size()))
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

// The key goes to a file of its own that only the user may read, never to QSettings (which backups and bug reports
// carry) or to a conversation.
void RemoteServerPanel::rememberKey() {
    auto keys = read_keys();
    if (apiKey().isEmpty()) keys.remove(server());
    else keys[server()] = apiKey();
    QDir().mkpath(QFileInfo(keyFile()).absolutePath());
    QSaveFile file(keyFile());
    if (!file.open(QIODevice::WriteOnly)) return;
    file.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    file.write(QJsonDocument(keys).toJson());
    file.commit();
    QFile::setPermissions(keyFile(), QFileDevice::ReadOwner | QFileDevice::WriteOwner);
}

}  // namespace deepstack::ui

// libsecret (GLib) comes before any Qt header: GLib's headers use names that Qt's keywords would take (the ui
// library builds with QT_NO_KEYWORDS as well).
#include <libsecret/secret.h>

#include "models/ApiKeyStore.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>
#include <QStandardPaths>

namespace deepstack::ui {

namespace {

// One item per server address in the user's default collection ("login" on GNOME), labelled so that the user
// recognises it in Seahorse or KeePassXC.
const SecretSchema* schema() {
    static const SecretSchema kSchema = [] {
        SecretSchema s{};  // the rest (reserved fields, the attribute list's end) zero
        s.name = "org.deepstack.Studio.ServerKey";
        s.flags = SECRET_SCHEMA_NONE;
        s.attributes[0] = {"server", SECRET_SCHEMA_ATTRIBUTE_STRING};
        return s;
    }();
    return &kSchema;
}

struct ErrorText {
    GError* error = nullptr;
    ~ErrorText() {
        if (error != nullptr) g_error_free(error);
    }
    QString text() const { return error != nullptr ? QString::fromUtf8(error->message) : QString(); }
};

QJsonObject read_file_keys() {
    QFile file(ApiKeyStore::keyFile());
    if (!file.open(QIODevice::ReadOnly)) return {};
    return QJsonDocument::fromJson(file.readAll()).object();
}

// False when the file could not be written.
bool write_file_keys(const QJsonObject& keys) {
    if (keys.isEmpty() && !QFile::exists(ApiKeyStore::keyFile())) return true;
    QDir().mkpath(QFileInfo(ApiKeyStore::keyFile()).absolutePath());
    QSaveFile file(ApiKeyStore::keyFile());
    if (!file.open(QIODevice::WriteOnly)) return false;
    file.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);  // before the key is written into it
    file.write(QJsonDocument(keys).toJson());
    if (!file.commit()) return false;
    return QFile::setPermissions(ApiKeyStore::keyFile(), QFileDevice::ReadOwner | QFileDevice::WriteOwner);
}

bool set_file_key(const QString& server, const QString& key) {
    auto keys = read_file_keys();
    if (key.isEmpty() && !keys.contains(server)) return true;
    if (key.isEmpty()) keys.remove(server);
    else keys[server] = key;
    return write_file_keys(keys);
}

}  // namespace

QString ApiKeyStore::keyFile() {
    return QStandardPaths::writableLocation(QStandardPaths::AppConfigLocation) + "/server-keys.json";
}

QString ApiKeyStore::lookup(const QString& server) {
    if (server.isEmpty()) return {};
    ErrorText failed;
    const QByteArray address = server.toUtf8();
    if (gchar* secret = secret_password_lookup_sync(schema(), nullptr, &failed.error, "server", address.constData(), nullptr)) {
        const QString key = QString::fromUtf8(secret);
        secret_password_free(secret);
        return key;
    }
    return read_file_keys().value(server).toString();
}

ApiKeyStore::Place ApiKeyStore::store(const QString& server, const QString& key, QString* why) {
    const QByteArray address = server.toUtf8();
    ErrorText failed;
    bool kept = false;
    if (key.isEmpty()) {
        kept = secret_password_clear_sync(schema(), nullptr, &failed.error, "server", address.constData(), nullptr) || failed.error == nullptr;
    } else {
        const QByteArray label = ("DeepStack Studio: API key for " + server).toUtf8();
        const QByteArray secret = key.toUtf8();
        kept = secret_password_store_sync(schema(), SECRET_COLLECTION_DEFAULT, label.constData(), secret.constData(), nullptr,
                                          &failed.error, "server", address.constData(), nullptr);
    }
    if (kept) {
        set_file_key(server, {});  // an older copy in the file goes
        return Place::secretService;
    }
    const bool inFile = set_file_key(server, key);
    if (why != nullptr)
        *why = inFile ? failed.text() : failed.text() + "; " + ApiKeyStore::keyFile() + " could not be written either";
    return inFile ? Place::file : Place::nowhere;
}

}  // namespace deepstack::ui

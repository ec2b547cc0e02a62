// The serving engines' API keys: CTest runs this twice, once on a private session bus with a real GNOME Keyring
// (tests/support/with_keyring.sh sets DEEPSTACK_KEYRING=running), where the keys must be in the keyring and not in
// any file, and once with no session bus at all, where the file only the user may read must hold them.
#include <libsecret/secret.h>

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>
#include "test_main.h"

#include "models/ApiKeyStore.h"

namespace test_api_key_store {

using deepstack::ui::ApiKeyStore;

namespace {

// What any other program of the desktop finds under the schema and attribute the app promises (the contract,
// written out here on purpose rather than taken from the code under test).
QString keyring_lookup(const QString& server) {
    static const SecretSchema schema = [] {
        SecretSchema s{};  // the rest (reserved fields, the attribute list's end) zero
        s.name = "org.deepstack.Studio.ServerKey";
        s.flags = SECRET_SCHEMA_NONE;
        s.attributes[0] = {"server", SECRET_SCHEMA_ATTRIBUTE_STRING};
        return s;
    }();
    GError* error = nullptr;
    gchar* secret = secret_password_lookup_sync(&schema, nullptr, &error, "server", server.toUtf8().constData(), nullptr);
    if (error != nullptr) g_error_free(error);
    if (secret == nullptr) return {};
    const QString key = QString::fromUtf8(secret);
    secret_password_free(secret);
    return key;
}

QJsonObject file_keys() {
    QFile file(ApiKeyStore::keyFile());
    if (!file.open(QIODevice::ReadOnly)) return {};
    return QJsonDocument::fromJson(file.readAll()).object();
}

}  // namespace

class TestApiKeyStore : public QObject {
    Q_OBJECT
    const bool keyring_ = qgetenv("DEEPSTACK_KEYRING") == "running";
    const QString server_ = "http://gpu-host:8000/v1";

private Q_SLOTS:
    void init() {
        QFile::remove(ApiKeyStore::keyFile());
        (void)ApiKeyStore::store(server_, {});
    }

    void aKeyIsKeptWhereTheDesktopKeepsSecrets() {
        QString why;
        const auto place = ApiKeyStore::store(server_, "sk-first", &why);
        QCOMPARE(place, keyring_ ? ApiKeyStore::Place::secretService : ApiKeyStore::Place::file);
        QCOMPARE(why.isEmpty(), keyring_);  // the fallback says why no keyring took it
        QCOMPARE(keyring_lookup(server_), keyring_ ? QString("sk-first") : QString());
        QCOMPARE(file_keys().value(server_).toString(), keyring_ ? QString() : QString("sk-first"));
        QCOMPARE(ApiKeyStore::lookup(server_), QString("sk-first"));
        QCOMPARE(ApiKeyStore::lookup("http://127.0.0.1:8080/v1"), QString());  // per address
    }

    void theFileIsReadableByTheUserAlone() {
        (void)ApiKeyStore::store(server_, "sk-file");
        const auto permissions = QFile::exists(ApiKeyStore::keyFile()) ? QFileInfo(ApiKeyStore::keyFile()).permissions()
                                                                       : QFileDevice::Permissions();
        const QFileDevice::Permissions userAlone =
            QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ReadUser | QFileDevice::WriteUser;
        QCOMPARE(permissions, keyring_ ? QFileDevice::Permissions() : userAlone);  // with a keyring, no file at all
    }

    void aKeyIsReplacedAndForgotten() {
        (void)ApiKeyStore::store(server_, "sk-first");
        (void)ApiKeyStore::store(server_, "sk-second");
        QCOMPARE(ApiKeyStore::lookup(server_), QString("sk-second"));
        QCOMPARE(keyring_lookup(server_), keyring_ ? QString("sk-second") : QString());
        (void)ApiKeyStore::store(server_, {});
        QCOMPARE(ApiKeyStore::lookup(server_), QString());
        QCOMPARE(keyring_lookup(server_), QString());
        QVERIFY(!file_keys().contains(server_));
    }

    // Neither the keyring nor the file: said, never claimed kept (the config folder lies under a plain file, which
    // no user, root included, can write into).
    void aKeyThatCannotBeKeptIsSaid() {
        QTemporaryDir dir;
        const QString plainFile = dir.filePath("not-a-folder");
        QFile(plainFile).open(QIODevice::WriteOnly);
        const QByteArray saved = qgetenv("XDG_CONFIG_HOME");
        qputenv("XDG_CONFIG_HOME", (plainFile + "/config").toUtf8());
        QString why;
        const auto place = ApiKeyStore::store(server_, "sk-nowhere", &why);
        const QString lookedUp = ApiKeyStore::lookup(server_);
        (void)ApiKeyStore::store(server_, {});
        qputenv("XDG_CONFIG_HOME", saved);
        QCOMPARE(place, keyring_ ? ApiKeyStore::Place::secretService : ApiKeyStore::Place::nowhere);
        QCOMPARE(why.contains("could not be written"), !keyring_);
        QCOMPARE(lookedUp, keyring_ ? QString("sk-nowhere") : QString());
    }

    // Keys that earlier versions kept in the file are still found, and move into the keyring when one answers.
    void aKeyFromTheFileMovesIntoTheKeyring() {
        QDir().mkpath(QFileInfo(ApiKeyStore::keyFile()).absolutePath());
        QFile file(ApiKeyStore::keyFile());
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(QJsonDocument(QJsonObject{{server_, "sk-old"}}).toJson());
        file.close();
        QCOMPARE(ApiKeyStore::lookup(server_), QString("sk-old"));
        (void)ApiKeyStore::store(server_, "sk-old");
        QCOMPARE(file_keys().contains(server_), !keyring_);
        QCOMPARE(keyring_lookup(server_), keyring_ ? QString("sk-old") : QString());
        QCOMPARE(ApiKeyStore::lookup(server_), QString("sk-old"));
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestApiKeyStore)

}  // namespace test_api_key_store
#include "test_api_key_store.moc"

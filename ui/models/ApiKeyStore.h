// Where the serving engines' API keys are kept, per server address: the desktop's secret store (the Secret
// Service that GNOME Keyring, KWallet and KeePassXC provide) when one answers, else a file only the user may read.
// Never in QSettings (which backups and bug reports carry), conversations or logs.
#pragma once

#include <QString>

namespace deepstack::ui {

class ApiKeyStore {
public:
    enum class Place { secretService, file, nowhere };  // nowhere: neither the keyring nor the file took it

    // The key kept for `server`; empty when none is.
    static QString lookup(const QString& server);
    // Keeps `key` for `server` (an empty key forgets it) in the secret store, or in the file when no secret store
    // answers; `why` then says why not (for the key field's tooltip). A key moved into the secret store leaves the
    // file.
    static Place store(const QString& server, const QString& key, QString* why = nullptr);
    // The file of the fallback (readable by the user alone).
    static QString keyFile();
};

}  // namespace deepstack::ui

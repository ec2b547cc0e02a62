// Writes that survive a crash or a kill at any moment: a file is written beside its target, flushed to the disk and
// renamed over it, and the folder synced, so a reader finds the old version or the new one, never half of one; a
// folder of several files (a training checkpoint) is staged whole and swapped in with one atomic exchange.
// Torch-free.
#pragma once

#include <filesystem>
#include <string_view>

namespace deepstack::io {

// fsync of a file or folder (a rename is on the disk once its folder is synced).
void sync_to_disk(const std::filesystem::path& path);

// `bytes` into `file` through `file`.partial; Error(io) naming the file (a full disk, a read-only folder) leaves the
// old file as it was.
void write_file_durably(const std::filesystem::path& file, std::string_view bytes);

// Makes the staged folder `staged` (complete, its files synced) the folder `target` in one atomic step (Linux's
// renameat2 RENAME_EXCHANGE when `target` exists), then removes what `target` held. A crash before the exchange
// leaves the old `target`; after it, the new one (and the old one at `staged`, removed next time).
void replace_folder(const std::filesystem::path& staged, const std::filesystem::path& target);

}  // namespace deepstack::io

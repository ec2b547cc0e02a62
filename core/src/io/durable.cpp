#include "io/durable.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_EXCHANGE (glibc)
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "deepstack/error.h"

namespace deepstack::io {

void sync_to_disk(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    (void)::fsync(fd);
    ::close(fd);
}

void write_file_durably(const std::filesystem::path& file, std::string_view bytes) {
    const auto temporary = std::filesystem::path(file.string() + ".partial");
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        out.flush();
        if (!out) {
            std::error_code ec;
            std::filesystem::remove(temporary, ec);
            throw Error(ErrorKind::io, file.string(), "could not be written (a full disk or a read-only folder?); the previous version is kept");
        }
    }
    sync_to_disk(temporary);
    std::error_code ec;
    std::filesystem::rename(temporary, file, ec);
    if (ec) throw Error(ErrorKind::io, file.string(), "could not be replaced: " + ec.message() + "; the previous version is kept");
    sync_to_disk(file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path());
}

void replace_folder(const std::filesystem::path& staged, const std::filesystem::path& target) {
    for (const auto& entry : std::filesystem::directory_iterator(staged))
        if (entry.is_regular_file()) sync_to_disk(entry.path());
    sync_to_disk(staged);
    const auto parent = target.parent_path().empty() ? std::filesystem::path(".") : target.parent_path();
    if (std::filesystem::exists(target)) {
        if (::renameat2(AT_FDCWD, staged.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) != 0)
            throw Error(ErrorKind::io, target.string(), std::string("could not be replaced: ") + std::strerror(errno));
        sync_to_disk(parent);
        std::filesystem::remove_all(staged);  // now the previous version
    } else {
        std::filesystem::rename(staged, target);
        sync_to_disk(parent);
    }
}

}  // namespace deepstack::io

#include "io/mapped_file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deepstack/error.h"

namespace deepstack::io {

namespace {
std::string system_reason() { return std::strerror(errno); }
}  // namespace

std::shared_ptr<const MappedFile> MappedFile::open(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(ErrorKind::io, path.string(), "cannot open: " + system_reason());
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const auto reason = system_reason();
        ::close(fd);
        throw Error(ErrorKind::io, path.string(), "cannot stat: " + reason);
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw Error(ErrorKind::io, path.string(), "not a regular file");
    }
    std::shared_ptr<MappedFile> file(new MappedFile());
    file->size_ = static_cast<std::uint64_t>(st.st_size);
    if (file->size_ > 0) {
        // MAP_PRIVATE with write permission makes the pages copy-on-write: weights are read straight from the
        // page cache, and an accidental in-place op on a tensor that views them changes a private copy of one
        // page instead of crashing or touching the user's file.
        void* addr = ::mmap(nullptr, file->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (addr == MAP_FAILED) {
            const auto reason = system_reason();
            ::close(fd);
            throw Error(ErrorKind::io, path.string(), "cannot memory-map " + std::to_string(file->size_) +
                                                          " bytes: " + reason);
        }
        file->data_ = static_cast<std::byte*>(addr);
    }
    ::close(fd);  // the mapping keeps the file open
    return file;
}

void MappedFile::drop_resident_pages() const {
    // A private file mapping refills from the file after MADV_DONTNEED. A page that an in-place op had copied
    // (see open) would refill too, losing that write: no code writes through a weight view on purpose, and the
    // loaders call this once the weights are bound, before any inference.
    if (data_ != nullptr && size_ > 0) (void)::madvise(data_, size_, MADV_DONTNEED);
}

MappedFile::~MappedFile() {
    if (data_ != nullptr) ::munmap(data_, size_);
}

}  // namespace deepstack::io

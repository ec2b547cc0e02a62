// A read-only view of a whole file through mmap, shared by every tensor view that points into it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>

namespace deepstack::io {

class MappedFile {
public:
    // Throws deepstack::Error(io) naming the path and the system's reason.
    static std::shared_ptr<const MappedFile> open(const std::filesystem::path& path);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const std::byte* data() const { return data_; }
    std::uint64_t size() const { return size_; }
    // Takes the file's pages out of this process's resident memory (the page cache keeps them): read again, a
    // page comes back from the cache. For after loading, when the weights converted or quantized from the file
    // live elsewhere: the file pages that the conversion touched would otherwise stay resident beside them through
    // the whole run, and count twice in its peak (the load's own peak already holds both).
    void drop_resident_pages() const;

private:
    MappedFile() = default;
    std::byte* data_ = nullptr;
    std::uint64_t size_ = 0;
};

}  // namespace deepstack::io

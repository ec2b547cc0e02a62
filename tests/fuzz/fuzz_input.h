// What the fuzz targets share: the input written to a file of this process's own (most readers take paths, as a
// user's files are), and errors that are the reader's answer to bad input (deepstack::Error) told apart from
// crashes, hangs and huge allocations, which libFuzzer and the sanitizers report.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

namespace deepstack::fuzz {

inline std::filesystem::path input_file(const std::uint8_t* data, std::size_t size, const std::string& name) {
    static const auto folder = [] {
        const auto base = std::filesystem::exists("/dev/shm") ? std::filesystem::path("/dev/shm") : std::filesystem::temp_directory_path();
        auto f = base / ("deepstack-fuzz-" + std::to_string(::getpid()));
        std::filesystem::create_directories(f);
        return f;
    }();
    const auto path = folder / name;
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    return path;
}

}  // namespace deepstack::fuzz

#include "test_files.h"

#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <mutex>
#include <system_error>
#include <fstream>
#include <stdexcept>

namespace deepstack::testing {

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::filesystem::path& path, const std::string& bytes) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

void write_json(const std::filesystem::path& path, const nlohmann::json& json) { write_file(path, json.dump(2)); }

std::string safetensors_bytes(const std::string& header, const std::string& data, std::uint64_t declared_length) {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<char>((declared_length >> (8 * i)) & 0xff);
    return bytes + header + data;
}

std::string safetensors_bytes(const std::string& header, const std::string& data) {
    return safetensors_bytes(header, data, header.size());
}

// DEEPSTACK_TEST_DATA_DIR in the environment serves test binaries run away from their source tree (the GPU check).
std::filesystem::path data_dir() {
    const char* moved = std::getenv("DEEPSTACK_TEST_DATA_DIR");
    return moved && *moved ? std::filesystem::path(moved) : std::filesystem::path(DEEPSTACK_TEST_DATA_DIR);
}

std::filesystem::path qwen3_tokenizer_dir() {
    static std::once_flag once;
    static std::filesystem::path folder;
    std::call_once(once, [] {
        const auto source = data_dir() / "tokenizers" / "qwen3";
        const auto target = std::filesystem::temp_directory_path() / ("deepstack-test-qwen3-tokenizer-" + std::to_string(::getpid()));
        std::filesystem::create_directories(target);
        std::atexit([] {
            std::error_code ignored;
            std::filesystem::remove_all(folder, ignored);
        });
        folder = target;
        gzFile in = gzopen((source / "tokenizer.json.gz").c_str(), "rb");
        if (in == nullptr) throw std::runtime_error("cannot open " + (source / "tokenizer.json.gz").string());
        std::string text;
        char buffer[1 << 16];
        int n = 0;
        while ((n = gzread(in, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<std::size_t>(n));
        const bool failed = n < 0;
        gzclose(in);
        if (failed || text.empty()) throw std::runtime_error("cannot unpack " + (source / "tokenizer.json.gz").string());
        write_file(target / "tokenizer.json", text);
        std::filesystem::copy_file(source / "tokenizer_config.json", target / "tokenizer_config.json",
                                   std::filesystem::copy_options::overwrite_existing);
    });
    return folder;
}

}  // namespace deepstack::testing

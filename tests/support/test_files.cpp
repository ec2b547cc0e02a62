#include "test_files.h"

#include <cstdlib>
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

}  // namespace deepstack::testing

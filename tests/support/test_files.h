// Helpers for tests that write their own model files: raw bytes, little-endian headers, JSON files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace deepstack::testing {

std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::string& bytes);
void write_json(const std::filesystem::path& path, const nlohmann::json& json);

// A raw safetensors file: 8-byte little-endian length, the header text as given, then `data`.
std::string safetensors_bytes(const std::string& header, const std::string& data, std::uint64_t declared_length);
std::string safetensors_bytes(const std::string& header, const std::string& data);

// The folder of the test's data files (tests/data in the source tree).
std::filesystem::path data_dir();

// A folder holding the real Qwen3 tokenizer (tokenizer.json, tokenizer_config.json), unpacked once per process
// from tests/data/tokenizers/qwen3 into a temporary folder removed at exit. Throws if the data is missing.
std::filesystem::path qwen3_tokenizer_dir();

}  // namespace deepstack::testing

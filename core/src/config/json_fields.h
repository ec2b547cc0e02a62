// Typed reads of JSON config fields with errors that name the file, the field path, and what was found.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "deepstack/error.h"

namespace deepstack::config {

using Json = nlohmann::json;

// Reads and parses a JSON file; a missing or malformed file is an Error naming it.
Json read_json_file(const std::filesystem::path& path);

// A JSON object together with where it came from ("config.json", "text_config."), for error messages.
class Fields {
public:
    Fields(const Json& object, std::string file, std::string prefix = "");

    bool has(const std::string& key) const;
    Fields object(const std::string& key) const;           // required nested object
    std::optional<Fields> optional_object(const std::string& key) const;

    std::int64_t integer(const std::string& key) const;
    std::int64_t integer(const std::string& key, std::int64_t fallback) const;
    // A size or count that sets loops and allocations: an integer in [0, max], else Error(config) saying so (a
    // config.json with 10^12 layers is refused, not looped over).
    std::int64_t count(const std::string& key, std::int64_t max) const;
    std::int64_t count(const std::string& key, std::int64_t fallback, std::int64_t max) const;
    double number(const std::string& key) const;
    double number(const std::string& key, double fallback) const;
    bool boolean(const std::string& key) const;
    bool boolean(const std::string& key, bool fallback) const;
    std::string string(const std::string& key) const;
    std::string string(const std::string& key, const std::string& fallback) const;
    std::vector<std::int64_t> integers(const std::string& key) const;
    std::vector<std::int64_t> integers(const std::string& key, std::vector<std::int64_t> fallback) const;
    std::vector<double> numbers(const std::string& key) const;
    // An integer or a list of integers (eos_token_id is either).
    std::vector<std::int64_t> integer_or_integers(const std::string& key) const;
    // The integer, or the first of a non-empty list (a config's eos_token_id), or fallback where the key is absent.
    std::int64_t first_integer(const std::string& key, std::int64_t fallback) const;

    const Json& json() const { return object_; }
    const std::string& file() const { return file_; }
    std::string path(const std::string& key) const { return prefix_ + key; }
    Error error(const std::string& key, const std::string& detail) const;

    // The value under `key`, any type; Error(config) naming it when it is missing or null.
    const Json& at(const std::string& key) const;

private:
    Error wrong_type(const std::string& key, const char* expected) const;

    const Json& object_;
    std::string file_;
    std::string prefix_;
};

// The sentences a config check collects: one per rule that does not hold.
class Problems {
public:
    void require(bool holds, const std::string& sentence) {
        if (!holds) list_.push_back(sentence);
    }
    void add(const std::string& sentence) { list_.push_back(sentence); }
    std::vector<std::string> take() { return std::move(list_); }

private:
    std::vector<std::string> list_;
};

}  // namespace deepstack::config

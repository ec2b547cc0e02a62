#include "config/json_fields.h"

#include <cmath>
#include <fstream>

namespace deepstack::config {

Json read_json_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(ErrorKind::io, path.string(), "cannot open");
    try {
        return Json::parse(in);
    } catch (const Json::exception& e) {
        throw Error(ErrorKind::format, path.string(), std::string("not valid JSON: ") + e.what());
    }
}

namespace {
std::string type_of(const Json& value) {
    if (value.is_number_integer()) return "integer " + value.dump();
    if (value.is_number()) return "number " + value.dump();
    if (value.is_string()) return "string " + value.dump();
    return std::string(value.type_name());
}
}  // namespace

Fields::Fields(const Json& object, std::string file, std::string prefix)
    : object_(object), file_(std::move(file)), prefix_(std::move(prefix)) {
    if (!object_.is_object())
        throw Error(ErrorKind::config, file_, (prefix_.empty() ? "top level" : prefix_) + " is not a JSON object");
}

std::int64_t Fields::count(const std::string& key, std::int64_t max) const {
    const auto value = integer(key);
    if (value < 0 || value > max)
        throw error(key, "is " + std::to_string(value) + "; a model this app reads has between 0 and " + std::to_string(max));
    return value;
}

std::int64_t Fields::count(const std::string& key, std::int64_t fallback, std::int64_t max) const {
    return has(key) ? count(key, max) : fallback;
}

Error Fields::error(const std::string& key, const std::string& detail) const {
    return Error(ErrorKind::config, file_, path(key) + ": " + detail);
}

Error Fields::wrong_type(const std::string& key, const char* expected) const {
    return error(key, std::string("expected ") + expected + ", found " + type_of(object_.at(key)));
}

bool Fields::has(const std::string& key) const { return object_.contains(key) && !object_.at(key).is_null(); }

const Json& Fields::at(const std::string& key) const {
    if (!has(key)) throw error(key, "missing");
    return object_.at(key);
}

Fields Fields::object(const std::string& key) const {
    const auto& value = at(key);
    if (!value.is_object()) throw wrong_type(key, "an object");
    return Fields(value, file_, prefix_ + key + ".");
}

std::optional<Fields> Fields::optional_object(const std::string& key) const {
    if (!has(key)) return std::nullopt;
    return object(key);
}

std::int64_t Fields::integer(const std::string& key) const {
    const auto& value = at(key);
    if (value.is_number_integer()) return value.get<std::int64_t>();
    // Some writers store integral values as 5000000.0; accept those, refuse 0.5.
    if (value.is_number_float()) {
        const double d = value.get<double>();
        // Range first: converting an out-of-range double to an integer is undefined behaviour.
        if (d >= -9.2e18 && d <= 9.2e18 && d == std::trunc(d)) return static_cast<std::int64_t>(d);
    }
    throw wrong_type(key, "an integer");
}
std::int64_t Fields::integer(const std::string& key, std::int64_t fallback) const { return has(key) ? integer(key) : fallback; }

double Fields::number(const std::string& key) const {
    const auto& value = at(key);
    if (!value.is_number()) throw wrong_type(key, "a number");
    return value.get<double>();
}
double Fields::number(const std::string& key, double fallback) const { return has(key) ? number(key) : fallback; }

bool Fields::boolean(const std::string& key) const {
    const auto& value = at(key);
    if (!value.is_boolean()) throw wrong_type(key, "true or false");
    return value.get<bool>();
}
bool Fields::boolean(const std::string& key, bool fallback) const { return has(key) ? boolean(key) : fallback; }

std::string Fields::string(const std::string& key) const {
    const auto& value = at(key);
    if (!value.is_string()) throw wrong_type(key, "a string");
    return value.get<std::string>();
}
std::string Fields::string(const std::string& key, const std::string& fallback) const {
    return has(key) ? string(key) : fallback;
}

std::vector<std::int64_t> Fields::integers(const std::string& key) const {
    const auto& value = at(key);
    if (!value.is_array()) throw wrong_type(key, "a list of integers");
    std::vector<std::int64_t> out;
    for (const auto& item : value) {
        if (!item.is_number_integer()) throw wrong_type(key, "a list of integers");
        out.push_back(item.get<std::int64_t>());
    }
    return out;
}
std::vector<std::int64_t> Fields::integers(const std::string& key, std::vector<std::int64_t> fallback) const {
    return has(key) ? integers(key) : fallback;
}

std::vector<double> Fields::numbers(const std::string& key) const {
    const auto& value = at(key);
    if (!value.is_array()) throw wrong_type(key, "a list of numbers");
    std::vector<double> out;
    for (const auto& item : value) {
        if (!item.is_number()) throw wrong_type(key, "a list of numbers");
        out.push_back(item.get<double>());
    }
    return out;
}

std::vector<std::int64_t> Fields::integer_or_integers(const std::string& key) const {
    const auto& value = at(key);
    if (value.is_number_integer()) return {value.get<std::int64_t>()};
    return integers(key);
}

std::int64_t Fields::first_integer(const std::string& key, std::int64_t fallback) const {
    if (!has(key)) return fallback;
    const auto values = integer_or_integers(key);
    if (values.empty()) throw wrong_type(key, "an integer or a non-empty list of integers");
    return values.front();
}

}  // namespace deepstack::config

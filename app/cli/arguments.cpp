#include "arguments.h"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include "deepstack/error.h"
#include "deepstack/image.h"
#include "deepstack/model_folder.h"
#include "deepstack/synthetic.h"

namespace deepstack::cli {

std::atomic<bool> interrupted{false};

void stop_on_interrupt() {
    std::signal(SIGINT, [](int) { interrupted = true; });
}

void stop_on_termination() {
    std::signal(SIGTERM, [](int) { interrupted = true; });
}

bool Arguments::flag(const std::string& name) const {
    return std::find(flags.begin(), flags.end(), name) != flags.end();
}

std::optional<std::string> Arguments::get(const std::string& name) const {
    const auto [first, end] = options.equal_range(name);
    return first == end ? std::nullopt : std::optional(std::prev(end)->second);
}

std::vector<std::string> Arguments::all(const std::string& name) const {
    std::vector<std::string> values;
    for (auto [it, end] = options.equal_range(name); it != end; ++it) values.push_back(it->second);
    return values;
}

Arguments parse(const std::vector<std::string>& args, const std::vector<std::string>& known_flags) {
    Arguments a;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const auto& arg = args[i];
        if (!arg.starts_with("--")) {
            a.positional.push_back(arg);
        } else if (std::find(known_flags.begin(), known_flags.end(), arg) != known_flags.end()) {
            a.flags.push_back(arg);
        } else if (i + 1 < args.size()) {
            a.options.emplace(arg, args[++i]);
        } else {
            throw std::invalid_argument(arg + " needs a value");
        }
    }
    return a;
}

RgbImage load_picture(const std::string& argument) {
    const auto hash = argument.rfind('#');
    if (!std::filesystem::exists(argument) && hash != std::string::npos && hash + 1 < argument.size() &&
        std::all_of(argument.begin() + static_cast<std::ptrdiff_t>(hash) + 1, argument.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        const auto page = argument.size() - hash - 1 <= 6 ? std::stoi(argument.substr(hash + 1)) : 0;
        if (page < 1) throw std::invalid_argument("--image " + argument + ": pages count from 1");
        return load_image(argument.substr(0, hash), page - 1);
    }
    if (const auto pages = image_pages(argument); pages > 1)
        std::fprintf(stderr, "%s: a TIFF of %d pages; the first is read (%s#2 reads the second)\n", argument.c_str(), pages,
                     argument.c_str());
    return load_image(argument);
}

double number(const Arguments& a, const std::string& name, double fallback) {
    const auto value = a.get(name);
    if (!value) return fallback;
    try {
        std::size_t used = 0;
        const double parsed = std::stod(*value, &used);
        if (used != value->size()) throw std::invalid_argument("");
        return parsed;
    } catch (const std::exception&) {
        throw std::invalid_argument(name + ": '" + *value + "' is not a number");
    }
}

std::int64_t whole(const Arguments& a, const std::string& name, std::int64_t fallback, std::int64_t low,
                   std::int64_t high) {
    const double value = number(a, name, static_cast<double>(fallback));
    if (value != std::trunc(value) || value < static_cast<double>(low) || value > static_cast<double>(high))
        throw std::invalid_argument(name + ": expected a whole number from " + std::to_string(low) + " to " +
                                    std::to_string(high));
    return static_cast<std::int64_t>(value);
}

std::vector<std::int64_t> index_list(const std::string& spec, std::int64_t count, const std::string& option) {
    std::vector<std::int64_t> out;
    if (spec == "all") {
        for (std::int64_t i = 0; i < count; ++i) out.push_back(i);
        return out;
    }
    std::size_t begin = 0;
    while (begin <= spec.size()) {
        const auto end = std::min(spec.find(',', begin), spec.size());
        const auto part = spec.substr(begin, end - begin);
        long long first = 0, last = 0;
        char tail = 0;
        if (std::sscanf(part.c_str(), "%lld-%lld%c", &first, &last, &tail) == 2) {
        } else if (std::sscanf(part.c_str(), "%lld%c", &first, &tail) == 1) {
            last = first;
        } else {
            throw std::invalid_argument(option + ": '" + part + "' is not a number or a range like 2-5");
        }
        if (first < 0 || last < first || last >= count)
            throw std::invalid_argument(option + ": " + part + " is outside 0 .. " + std::to_string(count - 1));
        for (auto i = first; i <= last; ++i) out.push_back(i);
        begin = end + 1;
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::filesystem::path model_path(const Arguments& a, const std::string& given) {
    const auto mmproj = a.get("--mmproj");
    return resolve_model_path(given, mmproj ? std::optional<std::filesystem::path>(*mmproj) : std::nullopt);
}

DeviceKind device_option(const Arguments& a) {
    const auto device = a.get("--device").value_or("cpu");
    if (device != "cpu" && device != "cuda") throw std::invalid_argument("--device: cpu or cuda, not '" + device + "'");
    return device == "cuda" ? DeviceKind::cuda : DeviceKind::cpu;
}

EngineOptions engine_options(const Arguments& a) {
    EngineOptions o;
    o.device = device_option(a);
    const auto dtype = a.get("--dtype").value_or("auto");
    if (dtype != "auto" && dtype != "bf16" && dtype != "f32")
        throw std::invalid_argument("--dtype: auto, bf16 or f32, not '" + dtype + "'");
    o.compute = dtype == "f32" ? ComputeType::f32 : dtype == "bf16" ? ComputeType::bf16 : ComputeType::automatic;
    const auto weights = a.get("--weights").value_or("auto");
    if (weights != "auto" && weights != "q8_0" && weights != "q4_k" && weights != "q4_0")
        throw std::invalid_argument("--weights: auto, q8_0, q4_k or q4_0, not '" + weights + "'");
    o.weights = weights == "q8_0"   ? WeightFormat::q8_0
                : weights == "q4_k" ? WeightFormat::q4_k
                : weights == "q4_0" ? WeightFormat::q4_0
                                    : WeightFormat::automatic;
    o.threads = static_cast<int>(whole(a, "--threads", 0, 0, 1024));
    o.context_tokens = whole(a, "--context", 8192, 16, 1 << 22);
    o.min_image_pixels = whole(a, "--min-pixels", 0, 0, 1ll << 34);
    o.max_image_pixels = whole(a, "--max-pixels", 0, 0, 1ll << 34);
    return o;
}

SamplingSettings sampling_from(const Arguments& a, SamplingSettings sampling) {
    sampling.max_new_tokens = whole(a, "--max-tokens", sampling.max_new_tokens, 1, 1 << 20);
    sampling.temperature = number(a, "--temperature", sampling.temperature);
    sampling.top_k = whole(a, "--top-k", sampling.top_k, 0, 1 << 24);
    sampling.top_p = number(a, "--top-p", sampling.top_p);
    sampling.repetition_penalty = number(a, "--repetition-penalty", sampling.repetition_penalty);
    sampling.presence_penalty = number(a, "--presence-penalty", sampling.presence_penalty);
    sampling.seed = static_cast<std::uint64_t>(whole(a, "--seed", 0, 0, 1ll << 53));
    return sampling;
}

double text_height_option(const Arguments& a) {
    const double height = number(a, "--text-height", SyntheticOptions{}.field_text_height);
    if (height < kSmallestFieldTextHeight || height > kLargestFieldTextHeight) {
        std::ostringstream message;
        message << "--text-height: expected " << kSmallestFieldTextHeight << " to " << kLargestFieldTextHeight
                << " pixels (the layouts have room for no more)";
        throw std::invalid_argument(message.str());
    }
    return height;
}

void write_text(const std::filesystem::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::binary);
    out << text;
    if (!out) throw Error(ErrorKind::io, file.string(), "cannot write this file");
}

}  // namespace deepstack::cli

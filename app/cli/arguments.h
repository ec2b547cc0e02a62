// What every deepstack-cli command shares: its arguments ("--name value" options and bare flags), the checks that
// turn them into numbers and core options (a bad value is a usage error naming the option), and Ctrl+C.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "deepstack/engine.h"
#include "deepstack/image.h"

namespace deepstack::cli {

// "--name value" options and bare flags; repeated options keep every value.
struct Arguments {
    std::vector<std::string> positional;
    std::multimap<std::string, std::string> options;
    std::vector<std::string> flags;

    bool flag(const std::string& name) const;
    // An option given twice: the later one counts (a script's defaults, then what its caller adds).
    std::optional<std::string> get(const std::string& name) const;
    std::vector<std::string> all(const std::string& name) const;
};

// `known_flags` take no value; any other "--name" takes the next argument. Throws std::invalid_argument (a usage
// error) for an option without its value.
Arguments parse(const std::vector<std::string>& args, const std::vector<std::string>& known_flags);

// An --image value: a picture file, or "scan.tif#3" for page 3 of a multi-page TIFF (a file of that very name wins).
// A multi-page TIFF named alone gives its first page and says so on stderr.
RgbImage load_picture(const std::string& argument);

// A number, or `fallback` when the option is absent; anything else is a usage error, not a silent conversion.
double number(const Arguments& a, const std::string& name, double fallback);
// A whole number within [low, high].
std::int64_t whole(const Arguments& a, const std::string& name, std::int64_t fallback, std::int64_t low,
                   std::int64_t high);
// "all", or a comma list of numbers and ranges ("0,3,5-7") within [0, count), sorted, each once.
std::vector<std::int64_t> index_list(const std::string& spec, std::int64_t count, const std::string& option);

// What --model (or `given`) names, as a folder to load: a llama.cpp .gguf file is read with --mmproj FILE, or the
// mmproj file beside it.
std::filesystem::path model_path(const Arguments& a, const std::string& given);
// --device, --dtype, --weights, --threads, --context, --min-pixels, --max-pixels.
EngineOptions engine_options(const Arguments& a);
DeviceKind device_option(const Arguments& a);
// The chat's sampling options (--max-tokens, --temperature, ...) over the model's defaults.
SamplingSettings sampling_from(const Arguments& a, SamplingSettings sampling);
// --text-height: the small print's cap height in pixels of the page (the default is what the demo model is trained
// for).
double text_height_option(const Arguments& a);

// Writes `text` to `file`, or throws Error(io) naming it.
void write_text(const std::filesystem::path& file, const std::string& text);

// Set by Ctrl+C once stop_on_interrupt() ran (and by SIGTERM after stop_on_termination()): the command under way
// ends at its next step, keeping what it has (an answer so far, a training checkpoint).
extern std::atomic<bool> interrupted;
void stop_on_interrupt();
void stop_on_termination();

}  // namespace deepstack::cli

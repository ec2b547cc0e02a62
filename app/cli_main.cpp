// deepstack-cli: the headless entry point (inspect a model folder; more commands arrive with the model families).
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "deepstack/error.h"
#include "deepstack/inspect.h"

namespace {

constexpr const char* kUsage =
    "usage: deepstack-cli <command> [options]\n"
    "\n"
    "commands:\n"
    "  inspect DIR [--json]   describe a model folder: family, parameters per part, dtypes, DeepStack plan,\n"
    "                         memory needed at bf16; lists every problem found. Exit status 1 if any.\n"
    "  help                   show this text\n";

int usage_error(const std::string& message) {
    std::cerr << "deepstack-cli: " << message << "\n\n" << kUsage;
    return 2;
}

int run_inspect(const std::vector<std::string>& args) {
    std::string folder;
    bool json = false;
    for (const auto& arg : args) {
        if (arg == "--json") json = true;
        else if (arg.starts_with("--")) return usage_error("inspect: unknown option " + arg);
        else if (folder.empty()) folder = arg;
        else return usage_error("inspect: takes one folder, got a second: " + arg);
    }
    if (folder.empty()) return usage_error("inspect: which model folder?");
    const auto report = deepstack::inspect_model_folder(folder);
    std::cout << (json ? deepstack::to_json(report) + "\n" : deepstack::to_text(report));
    return report.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage_error("no command given");
    const std::string command = argv[1];
    const std::vector<std::string> args(argv + 2, argv + argc);
    try {
        if (command == "inspect") return run_inspect(args);
        if (command == "help" || command == "--help" || command == "-h") {
            std::cout << kUsage;
            return 0;
        }
        return usage_error("unknown command '" + command + "'");
    } catch (const deepstack::Error& e) {
        std::cerr << "deepstack-cli: " << deepstack::to_string(e.kind()) << ": " << e.what() << "\n";
        return 1;
    }
}

// deepstack-cli: the headless entry point (inspect a model folder; more commands arrive with the model families).
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <iterator>

#include <nlohmann/json.hpp>

#include "deepstack/error.h"
#include "deepstack/inspect.h"
#include "deepstack/tokenizer.h"

namespace {

constexpr const char* kUsage =
    "usage: deepstack-cli <command> [options]\n"
    "\n"
    "commands:\n"
    "  inspect DIR [--json]   describe a model folder: family, parameters per part, dtypes, DeepStack plan,\n"
    "                         memory needed at bf16; lists every problem found. Exit status 1 if any.\n"
    "  tokenize --model DIR [--decode]\n"
    "                         read UTF-8 text on stdin and print its token ids as a JSON list; with --decode,\n"
    "                         read a JSON list of ids and print the text\n"
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

int run_tokenize(const std::vector<std::string>& args) {
    std::string model;
    bool decode = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--model" && i + 1 < args.size()) model = args[++i];
        else if (args[i] == "--decode") decode = true;
        else return usage_error("tokenize: unexpected argument " + args[i]);
    }
    if (model.empty()) return usage_error("tokenize: --model DIR is required");
    const auto tokenizer = deepstack::Tokenizer::load(model);
    const std::string input{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    if (!decode) {
        std::cout << nlohmann::json(tokenizer->encode(input)).dump() << "\n";
        return 0;
    }
    std::vector<deepstack::TokenId> ids;
    try {
        ids = nlohmann::json::parse(input).get<std::vector<deepstack::TokenId>>();
    } catch (const nlohmann::json::exception& e) {
        std::cerr << "deepstack-cli: tokenize --decode: stdin is not a JSON list of token ids: " << e.what() << "\n";
        return 1;
    }
    for (const auto id : ids)
        if (id < 0 || id >= tokenizer->size()) {
            std::cerr << "deepstack-cli: tokenize --decode: token id " << id << " is outside the vocabulary of "
                      << tokenizer->size() << "\n";
            return 1;
        }
    std::cout << tokenizer->decode(ids);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage_error("no command given");
    const std::string command = argv[1];
    const std::vector<std::string> args(argv + 2, argv + argc);
    try {
        if (command == "inspect") return run_inspect(args);
        if (command == "tokenize") return run_tokenize(args);
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

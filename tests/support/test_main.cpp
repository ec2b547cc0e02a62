// The main of every grouped test program (test_main.h): runs the suite named by the first argument with the rest.
#include "suite_registry.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace deepstack::testing {
namespace {

std::map<std::string, SuiteMain, std::less<>>& suites() {
    static std::map<std::string, SuiteMain, std::less<>> registered;
    return registered;
}

std::string running;

}  // namespace

bool register_suite(const char* source_file, SuiteMain main) {
    std::string_view name = source_file;
    if (const auto slash = name.find_last_of("/\\"); slash != std::string_view::npos) name.remove_prefix(slash + 1);
    if (const auto dot = name.find('.'); dot != std::string_view::npos) name = name.substr(0, dot);
    if (!suites().emplace(std::string(name), main).second) {
        std::fprintf(stderr, "two test suites are named %.*s (%s)\n", static_cast<int>(name.size()), name.data(),
                     source_file);
        std::abort();
    }
    return true;
}

const char* running_suite() { return running.c_str(); }

}  // namespace deepstack::testing

int main(int argc, char** argv) {
    const auto& suites = deepstack::testing::suites();
    const auto suite = argc >= 2 ? suites.find(std::string_view(argv[1])) : suites.end();
    if (suite == suites.end()) {
        if (argc >= 2) std::fprintf(stderr, "no suite '%s' in this program\n", argv[1]);
        std::fprintf(stderr, "usage: %s SUITE [Qt Test options]\nsuites:\n", argv[0]);
        for (const auto& [name, run] : suites) std::fprintf(stderr, "  %s\n", name.c_str());
        return 2;
    }
    deepstack::testing::running = suite->first;
    // The suite sees the program name and its own options, as if it were a program of its own.
    std::vector<char*> arguments{argv[0]};
    arguments.insert(arguments.end(), argv + 2, argv + argc);
    arguments.push_back(nullptr);
    return suite->second(argc - 1, arguments.data());
}

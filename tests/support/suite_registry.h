// The suites of a grouped test program, by name (test_main.h registers them; test_main.cpp runs one).
#pragma once

namespace deepstack::testing {

using SuiteMain = int (*)(int argc, char** argv);

// Registers a suite under the name of `source_file` without its folder and extension; true, so that a constant at
// namespace scope can call it before main. Two suites of one name are an error at start-up.
bool register_suite(const char* source_file, SuiteMain main);

// The suite this process runs ("test_chat"): what a suite passes first when it starts its own program again.
const char* running_suite();

}  // namespace deepstack::testing

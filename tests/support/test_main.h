// Test suites grouped into a few programs. Each suite registers itself under its file's name (DEEPSTACK_TEST_MAIN
// in place of Qt Test's QTEST_MAIN) and CTest runs it as a test of its own by naming it:
//   deepstack_torch_tests test_qwen3_vl -v2
// A group's suites compile together in a few unity units: most of a suite's compile time is instantiating the same
// LibTorch and Qt Test templates the other suites instantiate, and each program links LibTorch or Qt once.
// Every suite file wraps its code in a namespace named after the file, so that the helpers of two suites in one
// unit cannot collide.
#pragma once

#include <QtTest>
#include <string>

#include "suite_registry.h"

Q_DECLARE_METATYPE(std::string)  // a data-table column type of several suites; declared once for all of them

// What QTEST_MAIN's main does (an application of the kind the program links, initMain, the source path for
// QFINDTESTDATA), as a registered function.
#define DEEPSTACK_TEST_MAIN_WITH_SETUP(TestObject, ...)                                                               \
    [[maybe_unused]] const bool deepstack_suite_registered =                                                          \
        ::deepstack::testing::register_suite(__FILE__, [](int argc, char** argv) -> int {                             \
            QTest::Internal::callInitMain<TestObject>();                                                              \
            __VA_ARGS__                                                                                               \
            TestObject tc;                                                                                            \
            QTEST_SET_MAIN_SOURCE_PATH                                                                                \
            return QTest::qExec(&tc, argc, argv);                                                                     \
        });

#define DEEPSTACK_TEST_MAIN(TestObject) DEEPSTACK_TEST_MAIN_WITH_SETUP(TestObject, QTEST_MAIN_SETUP())
#define DEEPSTACK_TEST_GUILESS_MAIN(TestObject) \
    DEEPSTACK_TEST_MAIN_WITH_SETUP(TestObject, QTEST_QAPP_SETUP(QCoreApplication))
#define DEEPSTACK_TEST_APPLESS_MAIN(TestObject) DEEPSTACK_TEST_MAIN_WITH_SETUP(TestObject)
// A suite that needs its own main (test_chat's child process) registers that function.
#define DEEPSTACK_TEST_CUSTOM_MAIN(function) \
    [[maybe_unused]] const bool deepstack_suite_registered = ::deepstack::testing::register_suite(__FILE__, function);

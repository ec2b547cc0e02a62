// config.json of every family (family_of, describe), generation_config.json and preprocessor_config.json.
#include "config/json_fields.h"
#include "deepstack/error.h"
#include "deepstack/model_folder.h"
#include "fuzz_input.h"
#include "models/registry.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto path = deepstack::fuzz::input_file(data, size, "config.json");
    try {
        const auto json = deepstack::config::read_json_file(path);
        const deepstack::config::Fields root(json, path.string());
        (void)deepstack::models::describe(root);
    } catch (const deepstack::Error&) {
    }
    try {
        (void)deepstack::read_generation_config(path);
    } catch (const deepstack::Error&) {
    }
    try {
        (void)deepstack::read_preprocessor_config(path);
    } catch (const deepstack::Error&) {
    }
    return 0;
}

// A family's config.json parsed and checked in one step, so that every path that reads one (loading, the stack
// plan, training) refuses a bad config alike: an Error naming the file and the first problem found.
#pragma once

#include "config/json_fields.h"
#include "deepstack/error.h"

namespace deepstack::config {

// `parse`: Fields -> the family's Config (throws on a missing or mistyped field); `check`: Config -> the problems
// of a config that parsed (sizes that do not divide, layers out of range), empty when it can run.
template <class Parse, class Check>
auto parse_checked(const Fields& root, Parse&& parse, Check&& check) {
    auto config = parse(root);
    if (const auto problems = check(config); !problems.empty()) throw Error(ErrorKind::config, root.file(), problems.front());
    return config;
}

}  // namespace deepstack::config

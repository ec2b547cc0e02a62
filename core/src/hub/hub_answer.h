// The Hub's model API answer (GET /api/models/<repo>/revision/<rev>?blobs=true) read into a HubRepository: the
// commit and every file with its size, blob id and LFS sha256, each path checked to be a safe relative path.
// Internal; separate from the download so that the parser can be fuzzed on its own.
#pragma once

#include <string>

#include "deepstack/hub.h"

namespace deepstack {

// Error(format) naming `source` for an answer that is not JSON, names no commit, or lists a file without a usable
// id or with an unsafe path.
HubRepository parse_hub_repository(const std::string& repo, const std::string& body, const std::string& source);

}  // namespace deepstack

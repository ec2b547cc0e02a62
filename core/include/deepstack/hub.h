// Models from the Hugging Face Hub, into the cache that Python's huggingface_hub uses, so that a model fetched by
// either is found by both: <cache>/models--<org>--<name>/blobs/<sha256 or git id>, snapshots/<commit>/<file>
// (relative links to the blobs) and refs/<revision> (the commit a branch or tag named). Files are fetched with the
// Hub's own protocol (the model API's file list with sizes and LFS sha256; resolve/<commit>/<file>, redirects
// followed), resumed from where a dropped connection, a killed app or a reboot left them (blobs/<id>.incomplete),
// and verified (sha256 for LFS files, the git blob id for the others) before they are linked into the snapshot:
// a file that does not verify is deleted and reported, never used. No Qt, no LibTorch.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace deepstack {

struct HubSettings {
    std::string endpoint = "https://huggingface.co";  // HF_ENDPOINT
    std::optional<std::string> token;                  // HF_TOKEN, else the token file huggingface_hub writes
    std::filesystem::path cache;                       // HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub
    bool offline = false;                              // HF_HUB_OFFLINE=1: only what the cache holds
};
HubSettings hub_settings_from_environment();

struct HubFile {
    std::string path;                   // in the repository, "model-00001-of-00002.safetensors"
    std::uint64_t size = 0;
    std::string blob_id;                // git's id of the file (for an LFS file, of its pointer)
    std::optional<std::string> sha256;  // LFS files: the content's sha256
    std::string etag() const { return sha256 ? *sha256 : blob_id; }  // the blob's name in the cache
};

struct HubRepository {
    std::string id;      // "Qwen/Qwen3-VL-2B-Instruct"
    std::string commit;  // the revision resolved to a commit sha
    std::vector<HubFile> files;
};

// The repository's files at `revision` (a branch, tag or commit). Error(network) with a sentence for each way it
// fails: unreachable, 401 (a token is needed, or the one given was refused), 403 (gated: accept the terms on the
// Hub's page), 404 (no such repository or revision), 429 / 503 (busy: when to try again).
HubRepository hub_repository(const HubSettings& settings, const std::string& repo, const std::string& revision = "main",
                             const std::atomic<bool>* cancel = nullptr);

// The files `include` selects (glob patterns on the path, as `hf download --include`; empty: all).
std::vector<HubFile> hub_select(const std::vector<HubFile>& files, const std::vector<std::string>& include);

struct HubProgress {
    std::string file;  // the file this report is about (several are fetched at once)
    std::uint64_t file_done = 0, file_size = 0;
    std::uint64_t done = 0, total = 0;  // over the files still to fetch when the download began
    double bytes_per_s = 0;             // over the last few seconds
    std::size_t files_done = 0, files = 0;
};

// Fetches the selected files of `repo` at `revision` into the cache and returns the snapshot folder
// (snapshots/<commit>), up to four files at a time; `progress` is called from those downloads' threads, one call at
// a time. Files already in the cache are not fetched again; a partial one is resumed; a dropped
// connection is retried (resuming) a few times before it is an error. The free disk space is checked first
// (Error(resources) naming both sizes). Offline, the cached snapshot is returned or Error(network) says it is
// missing. Error(cancelled) when `cancel` is set; what was fetched so far stays for the next attempt.
std::filesystem::path hub_download(const HubSettings& settings, const std::string& repo, const std::string& revision,
                                   const std::vector<std::string>& include, const std::function<void(const HubProgress&)>& progress = {},
                                   const std::atomic<bool>* cancel = nullptr);

// The cached snapshot of `repo` at `revision` (a branch or tag through refs/, or a commit), if any.
std::optional<std::filesystem::path> hub_cached_snapshot(const HubSettings& settings, const std::string& repo,
                                                         const std::string& revision = "main");

struct CachedModel {
    std::string repo;  // "Qwen/Qwen3-VL-2B-Instruct"
    std::string commit;
    std::filesystem::path snapshot;
    std::uint64_t bytes = 0;  // of the files the snapshot links to
};
// Every model snapshot in the cache (newest commit of each repository first among its own).
std::vector<CachedModel> hub_cached_models(const HubSettings& settings);

}  // namespace deepstack

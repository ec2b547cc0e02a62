#include "deepstack/hub.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <unistd.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

#include "config/json_fields.h"
#include "deepstack/error.h"
#include "hub/hub_answer.h"
#include "net/http.h"

namespace deepstack {

namespace {

std::string env(const char* name) {
    const char* value = std::getenv(name);
    return value == nullptr ? std::string() : std::string(value);
}

bool truthy(const std::string& value) {
    std::string v = value;
    std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
    return v == "1" || v == "true" || v == "yes" || v == "on";
}

// "org/name" (or a bare "name"), the characters the Hub allows: a repository id never reaches a path or a URL
// unchecked.
void check_repo_id(const std::string& repo) {
    const auto allowed = [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_' || c == '.'; };
    const auto slash = repo.find('/');
    const auto parts = slash == std::string::npos ? std::vector<std::string>{repo}
                                                  : std::vector<std::string>{repo.substr(0, slash), repo.substr(slash + 1)};
    for (const auto& part : parts)
        if (part.empty() || part == "." || part == ".." || part.size() > 96 || !std::all_of(part.begin(), part.end(), allowed))
            throw Error(ErrorKind::config, "", "'" + repo + "' is not a repository id (\"organisation/name\")");
}

// A file path from the Hub's answer, before it becomes a path on disk: relative, no "..", no backslash.
void check_file_path(const std::string& repo, const std::string& path) {
    bool bad = path.empty() || path.front() == '/' || path.find('\\') != std::string::npos || path.find('\0') != std::string::npos;
    std::size_t start = 0;
    while (!bad && start <= path.size()) {
        const auto end = std::min(path.find('/', start), path.size());
        const auto part = path.substr(start, end - start);
        bad = part.empty() || part == "." || part == "..";
        start = end + 1;
    }
    if (bad) throw Error(ErrorKind::format, repo, "the Hub listed a file named '" + path + "', which is not a safe relative path");
}

bool is_commit(const std::string& revision) {
    return revision.size() == 40 && std::all_of(revision.begin(), revision.end(), [](unsigned char c) { return std::isxdigit(c); });
}

std::string url_escape_path(const std::string& path) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (const unsigned char c : path) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::filesystem::path repo_folder(const HubSettings& s, const std::string& repo) {
    std::string name = "models--" + repo;
    for (auto pos = name.find('/'); pos != std::string::npos; pos = name.find('/', pos)) name.replace(pos, 1, "--");
    return s.cache / name;
}

std::vector<std::string> auth_headers(const HubSettings& s) {
    if (!s.token || s.token->empty()) return {};
    return {"Authorization: Bearer " + *s.token};
}

// One sentence for each way the Hub says no.
[[noreturn]] void throw_status(const HubSettings& s, const std::string& what, const net::HttpResponse& r, const std::string& body) {
    std::string message;
    std::string server_says;
    try {
        const auto answer = nlohmann::json::parse(body);
        if (answer.is_object() && answer.contains("error") && answer["error"].is_string()) server_says = answer["error"].get<std::string>();
    } catch (const std::exception&) {
    }
    switch (r.status) {
        case 401:
            message = s.token ? "the Hub refused the access token (401): check it, or that it may read this repository"
                              : "the Hub asks for an access token (401): this repository is private or gated; set HF_TOKEN or enter a token";
            break;
        case 403: message = "access denied (403): a gated repository; accept its terms on its Hub page with the account of your token"; break;
        case 404: message = "not found (404): no such repository, revision or file (or it is private and needs a token)"; break;
        case 429:
        case 503: {
            const auto retry = r.headers.find("retry-after");
            message = "the Hub is busy (" + std::to_string(r.status) + ")" +
                      (retry != r.headers.end() ? "; it asks to try again after " + retry->second + " s" : "; try again later");
            break;
        }
        default: message = "the server answered " + std::to_string(r.status);
    }
    if (!server_says.empty()) message += " (\"" + server_says + "\")";
    throw Error(ErrorKind::network, what, message);
}

class Hasher {
public:
    explicit Hasher(const EVP_MD* md) : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
        if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), md, nullptr) != 1) throw Error(ErrorKind::internal, "", "could not start a hash");
    }
    void update(const void* data, std::size_t bytes) { EVP_DigestUpdate(ctx_.get(), data, bytes); }
    std::string hex() {
        std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
        unsigned int length = 0;
        EVP_DigestFinal_ex(ctx_.get(), digest.data(), &length);
        static const char* digits = "0123456789abcdef";
        std::string out;
        for (unsigned int i = 0; i < length; ++i) {
            out += digits[digest[i] >> 4];
            out += digits[digest[i] & 15];
        }
        return out;
    }

private:
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

// What a file's bytes must hash to: sha256 of the content for LFS files, git's blob id ("blob <size>\0" + content,
// sha1) for the others.
Hasher hasher_for(const HubFile& file) {
    if (file.sha256) return Hasher(EVP_sha256());
    Hasher h(EVP_sha1());
    const auto header = "blob " + std::to_string(file.size);
    h.update(header.data(), header.size() + 1);  // with its NUL
    return h;
}

void hash_existing(Hasher& h, const std::filesystem::path& path, std::uint64_t bytes) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> buffer(1 << 20);
    while (bytes > 0 && in) {
        in.read(buffer.data(), static_cast<std::streamsize>(std::min<std::uint64_t>(buffer.size(), bytes)));
        const auto got = static_cast<std::uint64_t>(in.gcount());
        if (got == 0) break;
        h.update(buffer.data(), got);
        bytes -= got;
    }
}

// The relative link target from snapshots/<commit>/<path> to blobs/<etag>.
std::filesystem::path link_target(const std::string& path, const std::string& etag) {
    std::filesystem::path target = "..";
    target /= "..";
    for (auto c : path)
        if (c == '/') target /= "..";
    return target / "blobs" / etag;
}

// fsync of a file or a folder (a rename is durable once its folder is synced): empty when it is on the disk, else
// why not. A full disk may only say so here, after every write() succeeded. A file system that cannot sync at all
// (some FUSE and network mounts say EINVAL or ENOTSUP) counts as synced: there is nothing more to ask of it.
std::string sync_to_disk(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return "could not be opened to sync it (" + std::string(std::strerror(errno)) + ")";
    const int synced = ::fsync(fd);
    const int error = errno;
    ::close(fd);
    if (synced == 0 || error == EINVAL || error == ENOTSUP || error == EROFS) return {};
    return "could not be written to the disk (" + std::string(std::strerror(error)) + (error == ENOSPC ? ": the disk is full" : "") + ")";
}

// Files fetched at once (huggingface_hub's snapshot_download uses 8 workers; a workstation's line is full sooner).
constexpr std::size_t kParallelFiles = 4;

struct Meter {
    std::deque<std::pair<std::chrono::steady_clock::time_point, std::uint64_t>> samples;
    double rate(std::uint64_t done) {
        const auto now = std::chrono::steady_clock::now();
        samples.emplace_back(now, done);
        while (samples.size() > 2 && now - samples.front().first > std::chrono::seconds(5)) samples.pop_front();
        const double seconds = std::chrono::duration<double>(now - samples.front().first).count();
        return seconds > 0.2 ? static_cast<double>(done - samples.front().second) / seconds : 0.0;
    }
};

}  // namespace

HubSettings hub_settings_from_environment() {
    HubSettings s;
    if (auto endpoint = env("HF_ENDPOINT"); !endpoint.empty()) {
        while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
        s.endpoint = endpoint;
    }
    const auto home = env("HOME");
    const auto hf_home = !env("HF_HOME").empty() ? std::filesystem::path(env("HF_HOME"))
                         : !env("XDG_CACHE_HOME").empty() ? std::filesystem::path(env("XDG_CACHE_HOME")) / "huggingface"
                                                          : std::filesystem::path(home) / ".cache" / "huggingface";
    s.cache = !env("HF_HUB_CACHE").empty() ? std::filesystem::path(env("HF_HUB_CACHE")) : hf_home / "hub";
    if (auto token = env("HF_TOKEN"); !token.empty()) {
        s.token = token;
    } else if (auto legacy = env("HUGGING_FACE_HUB_TOKEN"); !legacy.empty()) {
        s.token = legacy;
    } else {
        const auto file = !env("HF_TOKEN_PATH").empty() ? std::filesystem::path(env("HF_TOKEN_PATH")) : hf_home / "token";
        std::ifstream in(file);
        std::string saved;
        if (in && std::getline(in, saved) && !saved.empty()) s.token = saved;
    }
    s.offline = truthy(env("HF_HUB_OFFLINE"));
    return s;
}

HubRepository hub_repository(const HubSettings& settings, const std::string& repo, const std::string& revision,
                             const std::atomic<bool>* cancel) {
    check_repo_id(repo);
    if (settings.offline) throw Error(ErrorKind::network, repo, "offline (HF_HUB_OFFLINE is set): the Hub is not asked");
    net::HttpRequest request;
    request.url = settings.endpoint + "/api/models/" + repo + "/revision/" + url_escape_path(revision) + "?blobs=true";
    request.headers = auth_headers(settings);
    const auto answer = net::http_get_text(request, cancel);
    if (answer.response.status != 200) throw_status(settings, repo, answer.response, answer.body);

    return parse_hub_repository(repo, answer.body, request.url);
}

HubRepository parse_hub_repository(const std::string& repo, const std::string& body, const std::string& source) {
    nlohmann::json answer;
    try {
        answer = nlohmann::json::parse(body);
    } catch (const std::exception& e) {
        throw Error(ErrorKind::format, source, std::string("the Hub's answer is not JSON: ") + e.what());
    }
    const config::Fields root(answer, source);
    HubRepository r;
    r.id = root.string("id", repo);
    r.commit = root.string("sha");
    if (!is_commit(r.commit)) throw Error(ErrorKind::format, source, "the Hub's answer names no commit ('" + r.commit + "')");
    if (!answer.contains("siblings") || !answer["siblings"].is_array()) throw Error(ErrorKind::format, source, "the Hub's answer lists no files");
    for (const auto& sibling : answer["siblings"]) {
        const config::Fields f(sibling, source, "siblings.");
        HubFile file;
        file.path = f.string("rfilename");
        check_file_path(repo, file.path);
        std::int64_t size = f.integer("size", 0);
        file.blob_id = f.string("blobId", "");
        if (f.has("lfs") && sibling["lfs"].is_object()) {
            const auto lfs = f.object("lfs");
            file.sha256 = lfs.string("sha256");
            size = lfs.integer("size", size);
        }
        if (size < 0) throw Error(ErrorKind::format, source, file.path + ": the Hub lists a negative size");
        file.size = static_cast<std::uint64_t>(size);
        // The id names the blob on disk: hex of a sha256 (64) or a git id (40), nothing else.
        const auto id = file.etag();
        const auto hex = std::all_of(id.begin(), id.end(), [](unsigned char c) { return std::isxdigit(c); });
        if (!hex || id.size() != (file.sha256 ? 64u : 40u))
            throw Error(ErrorKind::format, source, file.path + ": the Hub gave no usable blob id or sha256 (ask with ?blobs=true)");
        r.files.push_back(std::move(file));
    }
    return r;
}

std::vector<HubFile> hub_select(const std::vector<HubFile>& files, const std::vector<std::string>& include) {
    if (include.empty()) return files;
    std::vector<HubFile> selected;
    for (const auto& f : files)
        for (const auto& pattern : include)
            if (fnmatch(pattern.c_str(), f.path.c_str(), 0) == 0) {
                selected.push_back(f);
                break;
            }
    return selected;
}

std::optional<std::filesystem::path> hub_cached_snapshot(const HubSettings& settings, const std::string& repo, const std::string& revision) {
    check_repo_id(repo);
    const auto folder = repo_folder(settings, repo);
    std::string commit = revision;
    if (!is_commit(revision)) {
        std::ifstream ref(folder / "refs" / revision);
        if (!ref || !std::getline(ref, commit)) return std::nullopt;
    }
    const auto snapshot = folder / "snapshots" / commit;
    if (!std::filesystem::is_directory(snapshot)) return std::nullopt;
    return snapshot;
}

std::filesystem::path hub_download(const HubSettings& settings, const std::string& repo, const std::string& revision,
                                   const std::vector<std::string>& include, const std::function<void(const HubProgress&)>& progress,
                                   const std::atomic<bool>* cancel) {
    check_repo_id(repo);
    if (settings.offline) {
        if (auto cached = hub_cached_snapshot(settings, repo, revision)) return *cached;
        throw Error(ErrorKind::network, repo, "offline (HF_HUB_OFFLINE is set) and revision '" + revision + "' is not in the cache " +
                                                   settings.cache.string());
    }
    const auto info = hub_repository(settings, repo, revision, cancel);
    const auto files = hub_select(info.files, include);
    if (files.empty()) throw Error(ErrorKind::config, repo, "no file of the repository matches what was asked for");

    const auto folder = repo_folder(settings, repo);
    const auto blobs = folder / "blobs";
    const auto snapshot = folder / "snapshots" / info.commit;
    std::filesystem::create_directories(blobs);
    std::filesystem::create_directories(snapshot);
    if (!is_commit(revision)) {
        std::filesystem::create_directories(folder / "refs" / std::filesystem::path(revision).parent_path());
        std::ofstream(folder / "refs" / revision, std::ios::binary | std::ios::trunc) << info.commit;
    }

    HubProgress p;
    std::vector<const HubFile*> missing;
    std::set<std::string> fetching;  // two paths with the same content share one blob: fetched once, linked twice
    for (const auto& f : files) {
        if (std::filesystem::exists(blobs / f.etag()) || !fetching.insert(f.etag()).second) continue;
        missing.push_back(&f);
        std::error_code ec;
        const auto partial = std::filesystem::file_size(blobs / (f.etag() + ".incomplete"), ec);
        p.total += f.size - (ec ? 0 : std::min<std::uint64_t>(partial, f.size));
    }
    p.files = missing.size();
    const auto space = std::filesystem::space(blobs);
    if (p.total > 0 && space.available < p.total + (64u << 20))
        throw Error(ErrorKind::resources, settings.cache.string(),
                    "the download needs " + std::to_string(p.total >> 20) + " MiB but only " + std::to_string(space.available >> 20) +
                        " MiB are free there");

    // Several files at a time: one connection rarely fills the line (the Hub's CDN paces each), and a model is a
    // few large shards beside small files. Progress reports are serialised; the first failure stops the others.
    Meter meter;
    std::mutex lock;  // guards p, meter, progress calls, failure
    std::exception_ptr failure;
    std::atomic<bool> stopping{false};
    const auto report = [&](const HubFile& f, std::uint64_t file_done, std::uint64_t added, bool finished) {
        const std::lock_guard guard(lock);
        p.file = f.path;
        p.file_size = f.size;
        p.file_done = file_done;
        p.done += added;
        if (finished) ++p.files_done;
        p.bytes_per_s = meter.rate(p.done);
        if (progress) progress(p);
    };
    // A file's bytes that were on the disk before this call are not in p.total; when they are thrown away (a
    // partial file longer than the file, a server that sends the whole file again) they are owed to it.
    const auto count_again = [&](std::uint64_t& kept_from_before) {
        const std::lock_guard guard(lock);
        p.total += kept_from_before;
        kept_from_before = 0;
    };
    const auto fetch = [&](const HubFile& f) {
        const auto blob = blobs / f.etag();
        const auto partial = blobs / (f.etag() + ".incomplete");
        std::error_code size_error;
        const auto partial_size = std::filesystem::file_size(partial, size_error);
        std::uint64_t kept_from_before = size_error ? 0 : std::min<std::uint64_t>(partial_size, f.size);
        for (int attempt = 0;; ++attempt) {
            std::error_code ec;
            std::uint64_t have = std::filesystem::exists(partial) ? std::filesystem::file_size(partial, ec) : 0;
            if (have > f.size) {  // longer than the file: not ours to trust
                std::filesystem::remove(partial);
                have = 0;
                count_again(kept_from_before);
            }
            auto hash = hasher_for(f);
            hash_existing(hash, partial, have);
            std::uint64_t file_done = have;
            std::ofstream out(partial, std::ios::binary | std::ios::app);
            if (!out) throw Error(ErrorKind::io, partial.string(), "could not be written");

            net::HttpRequest request;
            request.url = settings.endpoint + "/" + repo + "/resolve/" + info.commit + "/" + url_escape_path(f.path);
            request.headers = auth_headers(settings);
            request.resume_from = have;
            net::HttpCallbacks callbacks;
            callbacks.keep_going = [&] { return !stopping.load(); };
            callbacks.on_headers = [&](const net::HttpResponse& response) {
                if (have > 0 && response.status == 200) {  // the server sends the whole file again
                    out.close();
                    out.open(partial, std::ios::binary | std::ios::trunc);
                    {
                        const std::lock_guard guard(lock);
                        p.done -= std::min(p.done, file_done - kept_from_before);  // what this call counted
                    }
                    count_again(kept_from_before);
                    have = 0;
                    hash = hasher_for(f);
                    file_done = 0;
                }
            };
            callbacks.sink = [&](std::span<const char> chunk) {
                if (stopping.load()) return false;  // another file failed: this one stops where it is
                if (file_done + chunk.size() > f.size)
                    throw Error(ErrorKind::format, request.url, "the server sent more than the file's " + std::to_string(f.size) + " bytes");
                out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
                if (!out) throw Error(ErrorKind::io, partial.string(), "could not be written (is the disk full?)");
                hash.update(chunk.data(), chunk.size());
                file_done += chunk.size();
                report(f, file_done, chunk.size(), false);
                return true;
            };
            std::string error_body;
            net::HttpResponse response;
            try {
                response = net::http_get(request, callbacks, cancel, &error_body);
            } catch (const Error& e) {
                out.close();
                // A dropped or stalled connection: resume from what arrived, a few times, then give up.
                if (e.kind() != ErrorKind::network || attempt >= 4 || stopping.load()) throw;
                // Waits in short steps: a cancel or another file's failure ends it within 50 ms.
                for (int waited = 0; waited < (250 << attempt) && !stopping.load() && !(cancel && cancel->load()); waited += 50)
                    std::this_thread::sleep_for(std::chrono::milliseconds(50));
                continue;
            }
            out.close();  // what was still buffered is written now, and may not fit
            if (out.fail()) throw Error(ErrorKind::io, partial.string(), "could not be written (is the disk full?)");
            const bool already_complete = response.status == 416 && have == f.size;
            if (!already_complete && (response.status < 200 || response.status >= 300))
                throw_status(settings, repo + "/" + f.path, response, error_body);
            if (file_done != f.size) {
                if (attempt < 4) continue;  // the connection ended early without an error: resume
                throw Error(ErrorKind::network, repo + "/" + f.path,
                            "the download stopped at " + std::to_string(file_done) + " of " + std::to_string(f.size) + " bytes");
            }
            const auto got = hash.hex();
            const auto want = f.sha256 ? *f.sha256 : f.blob_id;
            if (got != want) {
                std::filesystem::remove(partial);
                throw Error(ErrorKind::network, repo + "/" + f.path,
                            "the downloaded file does not verify (" + std::string(f.sha256 ? "sha256 " : "git blob id ") + got +
                                ", the Hub lists " + want + "): it was deleted; try again");
            }
            // On the disk before it carries the final name: a blob named by its hash is trusted from then on. After a
            // failed fsync the kernel may call the lost pages clean and the next fsync succeed, so the partial file
            // cannot be trusted on the next attempt either: it goes.
            if (const auto unsynced = sync_to_disk(partial); !unsynced.empty()) {
                std::filesystem::remove(partial, ec);
                throw Error(ErrorKind::io, partial.string(), unsynced + "; it was deleted, and the next attempt fetches it again");
            }
            std::filesystem::rename(partial, blob);
            (void)sync_to_disk(blobs);
            break;
        }
        report(f, f.size, 0, true);
    };
    std::atomic<std::size_t> next{0};
    const auto worker = [&] {
        for (auto i = next++; i < missing.size() && !stopping.load(); i = next++) {
            try {
                fetch(*missing[i]);
            } catch (...) {
                const std::lock_guard guard(lock);
                if (!failure) failure = std::current_exception();
                stopping = true;
            }
        }
    };
    {
        std::vector<std::jthread> workers;  // joined however this block ends, a failed thread start included
        try {
            for (std::size_t w = 1; w < std::min(kParallelFiles, missing.size()); ++w) workers.emplace_back(worker);
        } catch (const std::system_error&) {
            // The system gave fewer threads than asked: the ones running (and this one) share the files.
        }
        worker();  // this thread is one of them
    }
    if (failure) std::rethrow_exception(failure);
    // Link every selected file into the snapshot (the ones fetched before too).
    for (const auto& f : files) {
        const auto link = snapshot / f.path;
        std::filesystem::create_directories(link.parent_path());
        std::error_code ec;
        if (std::filesystem::is_symlink(link, ec) || std::filesystem::exists(link, ec)) std::filesystem::remove(link, ec);
        std::filesystem::create_symlink(link_target(f.path, f.etag()), link);
    }
    return snapshot;
}

std::vector<CachedModel> hub_cached_models(const HubSettings& settings) {
    std::vector<CachedModel> models;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(settings.cache, ec)) {
        const auto name = entry.path().filename().string();
        if (!entry.is_directory() || name.rfind("models--", 0) != 0) continue;
        std::string repo = name.substr(8);
        if (const auto sep = repo.find("--"); sep != std::string::npos) repo.replace(sep, 2, "/");
        std::vector<CachedModel> found;
        for (const auto& snapshot : std::filesystem::directory_iterator(entry.path() / "snapshots", ec)) {
            if (!snapshot.is_directory()) continue;
            CachedModel m{repo, snapshot.path().filename().string(), snapshot.path(), 0};
            for (const auto& file : std::filesystem::recursive_directory_iterator(snapshot.path(), ec))
                if (file.is_regular_file(ec)) m.bytes += file.file_size(ec);  // follows the links to the blobs
            found.push_back(std::move(m));
        }
        std::sort(found.begin(), found.end(), [](const CachedModel& a, const CachedModel& b) {
            std::error_code e;
            return std::filesystem::last_write_time(a.snapshot, e) > std::filesystem::last_write_time(b.snapshot, e);
        });
        models.insert(models.end(), found.begin(), found.end());
    }
    return models;
}

}  // namespace deepstack

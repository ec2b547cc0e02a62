#include "models/gguf_model.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>
#include <tuple>
#include <cstdlib>
#include <cctype>

#include "config/json_fields.h"
#include "deepstack/error.h"
#include "deepstack/model_folder.h"
#include "models/registry.h"
#include "tokenizer/gguf_vocabulary.h"

namespace deepstack {

namespace {

constexpr const char* kPointerFile = "gguf.json";
// Raised whenever what the folder's files hold changes, so that folders written by an older version are redone.
constexpr int kFolderFormat = 1;

std::uint64_t fnv1a(std::string_view text, std::uint64_t hash = 1469598103934665603ull) {
    for (const unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
    return hash;
}

// The identity of a file for the cache: where it is, how big, when it last changed.
std::string file_identity(const std::filesystem::path& path) {
    const auto when = std::filesystem::last_write_time(path).time_since_epoch();
    return path.string() + "|" + std::to_string(std::filesystem::file_size(path)) + "|" +
           std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(when).count());
}

void write_json(const std::filesystem::path& path, const config::Json& json) {
    std::ofstream out(path, std::ios::binary);
    out << json.dump(1, ' ', false, config::Json::error_handler_t::replace) << '\n';
    if (!out) throw Error(ErrorKind::io, path.string(), "could not be written");
}

std::filesystem::path default_cache_root() {
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0')
        return std::filesystem::path(xdg) / "deepstack-studio" / "gguf";
    if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0')
        return std::filesystem::path(home) / ".cache" / "deepstack-studio" / "gguf";
    return std::filesystem::temp_directory_path() / "deepstack-studio-gguf";
}

bool is_gguf_file(const std::filesystem::path& path) {
    auto extension = path.extension().string();
    std::transform(extension.begin(), extension.end(), extension.begin(), [](unsigned char c) { return std::tolower(c); });
    return extension == ".gguf";
}

bool looks_like_mmproj(const std::filesystem::path& path) {
    auto name = path.filename().string();
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    return name.find("mmproj") != std::string::npos;
}

}  // namespace

std::optional<std::filesystem::path> find_mmproj(const std::filesystem::path& gguf) {
    std::vector<std::filesystem::path> found;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(gguf.parent_path().empty() ? "." : gguf.parent_path(), ec))
        if (entry.is_regular_file() && is_gguf_file(entry.path()) && looks_like_mmproj(entry.path())) found.push_back(entry.path());
    if (found.empty()) return std::nullopt;
    if (found.size() > 1) {
        // A folder of several models (llama.cpp's download cache names each file "<org>_<repo>_<file>"): the one
        // mmproj whose name before "mmproj" begins the model's own name.
        std::vector<std::filesystem::path> same_prefix;
        const auto model_name = gguf.filename().string();
        for (const auto& f : found) {
            const auto name = f.filename().string();
            std::string lower = name;
            std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            const auto prefix = name.substr(0, lower.find("mmproj"));
            if (!prefix.empty() && model_name.starts_with(prefix)) same_prefix.push_back(f);
        }
        if (same_prefix.size() == 1) return same_prefix.front();
        std::sort(found.begin(), found.end());
        std::string names;
        for (const auto& f : found) names += (names.empty() ? "" : ", ") + f.filename().string();
        throw Error(ErrorKind::config, gguf.string(), "several mmproj files lie beside it (" + names + "): name the one to use");
    }
    return found.front();
}

std::vector<OtherAppModel> gguf_models_of_other_apps() {
    const auto env = [](const char* name) -> std::filesystem::path {
        const char* value = std::getenv(name);
        return value != nullptr && *value != '\0' ? std::filesystem::path(value) : std::filesystem::path();
    };
    const auto home = env("HOME");
    const auto cache = !env("XDG_CACHE_HOME").empty() ? env("XDG_CACHE_HOME") : home.empty() ? std::filesystem::path() : home / ".cache";
    std::vector<std::pair<std::string, std::filesystem::path>> places;
    if (!home.empty()) places.emplace_back("LM Studio", home / ".lmstudio" / "models");  // publisher/repository/file.gguf
    if (!cache.empty()) places.emplace_back("LM Studio", cache / "lm-studio" / "models");  // its older place
    places.emplace_back("llama.cpp", !env("LLAMA_CACHE").empty() ? env("LLAMA_CACHE") : cache.empty() ? std::filesystem::path() : cache / "llama.cpp");
    std::vector<OtherAppModel> found;
    std::set<std::filesystem::path> seen;
    for (const auto& [app, root] : places) {
        std::error_code ec;
        if (root.empty() || !std::filesystem::is_directory(root, ec)) continue;
        std::filesystem::recursive_directory_iterator it(root, std::filesystem::directory_options::skip_permission_denied, ec), end;
        for (; !ec && it != end; it.increment(ec)) {
            if (it.depth() >= 3) it.disable_recursion_pending();  // publisher/repository/file at most
            const auto& path = it->path();
            if (!it->is_regular_file(ec) || !is_gguf_file(path) || looks_like_mmproj(path)) continue;
            if (seen.insert(std::filesystem::weakly_canonical(path, ec)).second) found.push_back({app, path});
        }
    }
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return std::tie(a.app, a.file) < std::tie(b.app, b.file); });
    return found;
}

std::filesystem::path gguf_model_folder(const std::filesystem::path& gguf, std::optional<std::filesystem::path> mmproj,
                                        std::filesystem::path cache_root) {
    const auto text_path = std::filesystem::absolute(gguf).lexically_normal();
    if (!std::filesystem::is_regular_file(text_path)) throw Error(ErrorKind::io, text_path.string(), "no such file");
    if (looks_like_mmproj(text_path))
        throw Error(ErrorKind::config, text_path.string(), "this is a vision projector (mmproj); open the text model's .gguf beside it");
    if (!mmproj) mmproj = find_mmproj(text_path);
    if (mmproj) mmproj = std::filesystem::absolute(*mmproj).lexically_normal();
    if (cache_root.empty()) cache_root = default_cache_root();

    auto key = fnv1a(std::to_string(kFolderFormat) + "|" + file_identity(text_path));
    if (mmproj) key = fnv1a(file_identity(*mmproj), key);
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(key));
    const auto folder = cache_root / (text_path.stem().string() + "-" + hex);
    if (std::filesystem::exists(folder / kPointerFile)) return folder;

    const auto text = GgufFile::open(text_path);
    const auto architecture = text.string("general.architecture");
    const auto* family = models::family_of_gguf(architecture);
    if (family == nullptr)
        throw Error(ErrorKind::unsupported, text_path.string(), "general.architecture",
                    "'" + architecture + "' is not a family this version runs from GGUF files (known: qwen3vl)");
    std::optional<GgufFile> projector;
    if (mmproj) projector = GgufFile::open(*mmproj);

    // Written beside, then renamed: a folder that exists is complete.
    std::filesystem::create_directories(cache_root);
    const auto partial = cache_root / (folder.filename().string() + ".partial");
    std::filesystem::remove_all(partial);
    std::filesystem::create_directories(partial);
    const auto config = family->config_from_gguf(text, projector ? &*projector : nullptr);
    write_json(partial / "config.json", config);
    write_json(partial / "tokenizer.json", tokenizer::tokenizer_json_from_gguf(text));
    write_json(partial / "tokenizer_config.json", tokenizer::tokenizer_config_from_gguf(text));

    config::Json generation = {{"do_sample", false}};
    if (text.has("tokenizer.ggml.eos_token_id")) generation["eos_token_id"] = {text.integer("tokenizer.ggml.eos_token_id")};
    // Newer converters keep the model's sampling defaults as general.sampling.*.
    if (text.has("general.sampling.temp")) generation["temperature"] = text.number("general.sampling.temp"), generation["do_sample"] = true;
    if (text.has("general.sampling.top_k")) generation["top_k"] = text.integer("general.sampling.top_k");
    if (text.has("general.sampling.top_p")) generation["top_p"] = text.number("general.sampling.top_p");
    write_json(partial / "generation_config.json", generation);

    if (projector) {
        config::Json preprocessor = {{"image_processor_type", "Qwen2VLImageProcessorFast"},
                                     {"patch_size", projector->integer("clip.vision.patch_size")},
                                     {"temporal_patch_size", 2},
                                     {"merge_size", config.at("vision_config").at("spatial_merge_size")}};
        if (projector->has("clip.vision.image_mean")) preprocessor["image_mean"] = projector->metadata().at("clip.vision.image_mean");
        if (projector->has("clip.vision.image_std")) preprocessor["image_std"] = projector->metadata().at("clip.vision.image_std");
        if (projector->has("clip.vision.image_min_pixels") && projector->has("clip.vision.image_max_pixels"))
            preprocessor["size"] = {{"shortest_edge", projector->integer("clip.vision.image_min_pixels")},
                                    {"longest_edge", projector->integer("clip.vision.image_max_pixels")}};
        write_json(partial / "preprocessor_config.json", preprocessor);
    }
    config::Json pointer = {{"model", text_path.string()}, {"name", text.has("general.name") ? text.string("general.name") : text_path.stem().string()}};
    if (mmproj) pointer["mmproj"] = mmproj->string();
    write_json(partial / kPointerFile, pointer);

    std::error_code ec;
    std::filesystem::rename(partial, folder, ec);
    if (ec) {  // another process wrote it first
        std::filesystem::remove_all(partial);
        if (!std::filesystem::exists(folder / kPointerFile)) throw Error(ErrorKind::io, folder.string(), "could not be written: " + ec.message());
    }
    return folder;
}

std::filesystem::path resolve_model_path(const std::filesystem::path& model, const std::optional<std::filesystem::path>& mmproj) {
    if (std::filesystem::is_regular_file(model) && is_gguf_file(model)) return gguf_model_folder(model, mmproj);
    if (mmproj) throw Error(ErrorKind::config, mmproj->string(), "an mmproj file goes with a .gguf model, not with a model folder");
    return model;
}

namespace models {

std::optional<GgufModelFiles> gguf_files_of(const std::filesystem::path& folder) {
    const auto pointer = folder / kPointerFile;
    if (!std::filesystem::exists(pointer)) return std::nullopt;
    const auto json = config::read_json_file(pointer);
    const config::Fields fields(json, pointer.string());
    GgufModelFiles files{fields.string("model"), std::nullopt};
    if (fields.has("mmproj")) files.mmproj = fields.string("mmproj");
    return files;
}

GgufCheckpoint GgufCheckpoint::open(const std::filesystem::path& folder, const ArchitectureDescription& architecture) {
    const auto files = gguf_files_of(folder);
    if (!files) throw Error(ErrorKind::internal, folder.string(), "not a GGUF model folder");
    GgufCheckpoint c;
    c.text_ = std::make_shared<const GgufFile>(GgufFile::open(files->text));
    if (files->mmproj) c.mmproj_ = std::make_shared<const GgufFile>(GgufFile::open(*files->mmproj));

    const auto json = config::read_json_file(folder / "config.json");
    const config::Fields root(json, (folder / "config.json").string());
    const auto& family = family_of(root);
    if (family.gguf_location == nullptr)
        throw Error(ErrorKind::unsupported, files->text.string(), family.name + " models cannot be read from GGUF files");

    std::set<std::pair<const GgufFile*, std::string>> used;
    for (const auto& spec : architecture.tensors) {
        const auto where = family.gguf_location(root, spec.name);
        const GgufFile* file = where.in_mmproj ? c.mmproj_.get() : c.text_.get();
        if (where.names.empty() || file == nullptr) {
            if (spec.optional) continue;
            throw Error(ErrorKind::shape, files->text.string(), spec.name,
                        where.names.empty() ? "has no place in a GGUF file" : "lies in the mmproj file, which is missing");
        }
        Entry entry{spec.name, {}, file, {}, where.stack_dim, 0};
        for (const auto& part : where.names) {
            const auto* tensor = file->find(part);
            if (tensor == nullptr) break;
            if (!entry.parts.empty() && tensor->shape != entry.parts.front()->shape)
                throw Error(ErrorKind::shape, file->path().string(), part,
                            "shape " + shape_to_string(tensor->shape) + " differs from " + where.names.front() + "'s " +
                                shape_to_string(entry.parts.front()->shape));
            entry.parts.push_back(tensor);
            entry.bytes += tensor->bytes;
        }
        if (entry.parts.size() != where.names.size()) {
            if (spec.optional && entry.parts.empty()) continue;
            throw Error(ErrorKind::shape, file->path().string(), where.names[entry.parts.size()],
                        "missing (the checkpoint's " + spec.name + ", expected shape " + shape_to_string(spec.shape) + ")");
        }
        entry.shape = entry.parts.front()->shape;
        if (entry.parts.size() > 1) entry.shape.insert(entry.shape.begin() + where.stack_dim, static_cast<std::int64_t>(entry.parts.size()));
        if (entry.shape != spec.shape)
            throw Error(ErrorKind::shape, file->path().string(), where.names.front(),
                        "expected shape " + shape_to_string(spec.shape) + " (the checkpoint's " + spec.name + "), found " +
                            shape_to_string(entry.shape));
        for (const auto& part : where.names) used.emplace(file, part);
        c.entries_.push_back(std::move(entry));
    }
    for (const GgufFile* file : {c.text_.get(), c.mmproj_.get()}) {
        if (file == nullptr) continue;
        for (const auto& tensor : file->tensors())
            if (!used.contains({file, tensor.name}))
                throw Error(ErrorKind::shape, file->path().string(), tensor.name,
                            "unused: no such tensor in this model (shape " + shape_to_string(tensor.shape) + ")");
    }
    return c;
}

const GgufCheckpoint::Entry* GgufCheckpoint::find(const std::string& name) const {
    for (const auto& e : entries_)
        if (e.name == name) return &e;
    return nullptr;
}

void GgufCheckpoint::drop_resident_pages() const {
    text_->drop_resident_pages();
    if (mmproj_) mmproj_->drop_resident_pages();
}

std::uint64_t GgufCheckpoint::file_bytes() const {
    std::uint64_t bytes = std::filesystem::file_size(text_->path());
    if (mmproj_) bytes += std::filesystem::file_size(mmproj_->path());
    return bytes;
}

}  // namespace models
}  // namespace deepstack

#include "deepstack/inspect.h"

#include <cmath>
#include <cstdio>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "config/json_fields.h"
#include "deepstack/error.h"
#include "deepstack/model_folder.h"
#include "deepstack/safetensors.h"
#include "models/gguf_model.h"
#include "models/registry.h"

namespace deepstack {

namespace {

// CUDA context, cuBLAS workspaces and caching-allocator slack: what an empty LibTorch CUDA process holds.
constexpr std::uint64_t kCudaRuntimeBytes = 600ull << 20;

void check_tensors(const models::ArchitectureDescription& arch, const Checkpoint& checkpoint, InspectReport& r) {
    std::unordered_map<std::string, const models::TensorSpec*> expected;
    for (const auto& spec : arch.tensors) expected.emplace(spec.name, &spec);

    std::map<std::string, InspectPart> parts;
    for (const auto& name : arch.parts) parts[name].name = name;
    for (const auto& name : checkpoint.names()) {
        const auto& info = checkpoint.info(name);
        const auto it = expected.find(name);
        auto& part = parts[it == expected.end() ? "other" : it->second->part];
        if (part.name.empty()) part.name = "other";
        part.parameters += info.numel();
        part.bytes += info.nbytes();
        ++part.tensors;
        if (it == expected.end()) {
            r.problems.push_back(checkpoint.file_of(name).path().filename().string() + ": tensor '" + name +
                                 "' " + shape_to_string(info.shape) + " is not part of a " + arch.display_name +
                                 " model with this config (unused)");
        } else if (info.shape != it->second->shape) {
            r.problems.push_back(checkpoint.file_of(name).path().filename().string() + ": tensor '" + name +
                                 "': config.json implies shape " + shape_to_string(it->second->shape) +
                                 ", the checkpoint has " + shape_to_string(info.shape));
        } else if (!dtype_is_floating(info.dtype)) {
            r.problems.push_back(checkpoint.file_of(name).path().filename().string() + ": tensor '" + name +
                                 "' is stored as " + std::string(dtype_name(info.dtype)) + ", not a floating-point type");
        }
    }
    std::int64_t missing = 0;
    for (const auto& spec : arch.tensors) {
        if (spec.optional || checkpoint.contains(spec.name)) continue;
        if (++missing <= 20)
            r.problems.push_back("tensor '" + spec.name + "' " + shape_to_string(spec.shape) + " (" + spec.part +
                                 ") is missing from the checkpoint");
    }
    if (missing > 20) r.problems.push_back("... and " + std::to_string(missing - 20) + " more missing tensors");

    for (const auto& name : arch.parts) r.parts.push_back(parts[name]);
    if (parts.contains("other")) r.parts.push_back(parts["other"]);
}

// A GGUF model folder's weights: the two files, checked as GgufCheckpoint::open checks them.
void inspect_gguf(const models::ArchitectureDescription& arch, const std::filesystem::path& folder, InspectReport& r) {
    const auto checkpoint = models::GgufCheckpoint::open(folder, arch);
    r.gguf = true;
    r.shards = checkpoint.mmproj() != nullptr ? 2 : 1;
    r.weight_file_bytes = checkpoint.file_bytes();
    for (const GgufFile* file : {&checkpoint.text(), checkpoint.mmproj()}) {
        if (file == nullptr) continue;
        r.files.emplace_back(file->path().filename().string(), true);
        for (const auto& tensor : file->tensors()) {
            auto& [count, bytes] = r.dtypes[tensor.type_name];
            ++count;
            bytes += tensor.bytes;
        }
    }
    std::unordered_map<std::string, const models::TensorSpec*> specs;
    for (const auto& spec : arch.tensors) specs.emplace(spec.name, &spec);
    std::map<std::string, InspectPart> parts;
    for (const auto& name : arch.parts) parts[name].name = name;
    for (const auto& entry : checkpoint.entries()) {
        auto& part = parts[specs.at(entry.name)->part];
        part.parameters += shape_numel(entry.shape);
        part.bytes += entry.bytes;
        ++part.tensors;
    }
    for (const auto& name : arch.parts) r.parts.push_back(parts[name]);
}

void count_from_config(const models::ArchitectureDescription& arch, InspectReport& r) {
    for (const auto& name : arch.parts) {
        InspectPart part{name};
        for (const auto& spec : arch.tensors)
            if (spec.part == name && !spec.optional) {
                part.parameters += shape_numel(spec.shape);
                ++part.tensors;
            }
        r.parts.push_back(part);
    }
}

template <typename Step>
void attempt(InspectReport& r, Step&& step) {
    try {
        step();
    } catch (const Error& e) {
        r.problems.push_back(e.what());
    } catch (const std::exception& e) {
        r.problems.push_back(std::string("unexpected failure: ") + e.what());
    }
}

// config.json: the family, and the tensors and plan it implies (none when it is missing or unreadable).
std::optional<models::ArchitectureDescription> inspect_config(const std::filesystem::path& folder, InspectReport& r) {
    std::optional<models::ArchitectureDescription> arch;
    if (!std::filesystem::exists(folder / "config.json")) {
        r.problems.push_back((folder / "config.json").string() + ": missing; it says which model this is");
        return arch;
    }
    attempt(r, [&] {
        const auto json = config::read_json_file(folder / "config.json");
        const config::Fields root(json, (folder / "config.json").string());
        r.model_type = root.string("model_type", "");
        arch = models::describe(root);
    });
    if (arch) {
        r.family = arch->family;
        r.display_name = arch->display_name;
        r.runnable = arch->runnable;
        r.not_runnable_reason = arch->not_runnable_reason;
        r.facts = arch->facts;
        for (const auto& p : arch->problems) r.problems.push_back((folder / "config.json").string() + ": " + p);
        r.notes = arch->notes;
        for (const auto& s : arch->deepstack_plan) r.deepstack_plan.push_back({s.group, s.source, s.target, s.target_layer, s.placement});
    }
    return arch;
}

// The weights: a GGUF pair, or safetensors files checked tensor by tensor against the architecture (or, without
// one, counted as they are); without readable weights the counts come from the config.
void inspect_weights(const std::filesystem::path& folder, const std::optional<models::ArchitectureDescription>& arch, InspectReport& r) {
    if (models::gguf_files_of(folder)) {
        if (arch) attempt(r, [&] { inspect_gguf(*arch, folder, r); });
        return;
    }
    std::optional<Checkpoint> checkpoint;
    attempt(r, [&] { checkpoint = Checkpoint::open(folder); });
    if (!checkpoint) {
        if (arch) {
            count_from_config(*arch, r);
            r.notes.push_back("parameter counts come from config.json: the weights could not be read");
        }
        return;
    }
    for (const auto& w : checkpoint->warnings()) r.warnings.push_back(w);
    r.shards = static_cast<std::int64_t>(checkpoint->files().size());
    for (const auto& file : checkpoint->files()) {
        r.weight_file_bytes += file.file_size();
        for (const auto& info : file.tensors()) {
            auto& [count, bytes] = r.dtypes[std::string(dtype_name(info.dtype))];
            ++count;
            bytes += info.nbytes();
        }
    }
    if (arch) {
        check_tensors(*arch, *checkpoint, r);
        return;
    }
    InspectPart all{"all tensors"};
    for (const auto& name : checkpoint->names()) {
        all.parameters += checkpoint->info(name).numel();
        all.bytes += checkpoint->info(name).nbytes();
        ++all.tensors;
    }
    r.parts.push_back(all);
}

// generation_config.json, preprocessor_config.json and the tokenizer, checked against config.json.
void inspect_companion_files(const std::filesystem::path& folder, const std::optional<models::ArchitectureDescription>& arch, InspectReport& r) {
    const auto vocab = arch ? arch->vocab_size : 0;
    if (std::filesystem::exists(folder / "generation_config.json")) {
        attempt(r, [&] {
            const auto g = read_generation_config(folder / "generation_config.json");
            for (const auto id : g.eos_token_ids)
                if (vocab > 0 && (id < 0 || id >= vocab))
                    r.problems.push_back((folder / "generation_config.json").string() + ": eos_token_id " +
                                         std::to_string(id) + " is outside the vocabulary of " + std::to_string(vocab));
        });
    }
    if (std::filesystem::exists(folder / "preprocessor_config.json")) {
        attempt(r, [&] { (void)read_preprocessor_config(folder / "preprocessor_config.json"); });
    } else if (arch && arch->family.starts_with("qwen3_vl")) {
        r.warnings.push_back("preprocessor_config.json is missing; Qwen3-VL's published values will be used");
    }
    attempt(r, [&] {
        const auto t = read_tokenizer_files(folder);
        r.tokenizer = std::string(to_string(t.kind));
        r.tokenizer_vocab = t.max_token_id + 1;
        r.has_chat_template = t.chat_template.has_value();
        if (t.kind == TokenizerKind::none)
            r.problems.push_back(folder.string() + ": no tokenizer (tokenizer.json or tokenizer.model)");
        else if (vocab > 0 && t.max_token_id >= vocab)
            r.problems.push_back("the tokenizer has token id " + std::to_string(t.max_token_id) +
                                 " but the model's vocabulary has only " + std::to_string(vocab) + " rows");
        if (!arch || t.kind == TokenizerKind::none) return;
        for (const auto& [content, id] : arch->special_tokens) {
            const auto it = t.special_tokens.find(content);
            if (it == t.special_tokens.end())
                r.problems.push_back("the tokenizer has no special token " + content + " (config.json uses id " + std::to_string(id) + ")");
            else if (it->second != id)
                r.problems.push_back("config.json says " + content + " is token " + std::to_string(id) + ", the tokenizer says " +
                                     std::to_string(it->second));
        }
    });
}

// The memory a run needs at bf16 (a GGUF's quantized parts as the file stores them).
void estimate_memory(const models::ArchitectureDescription& arch, InspectReport& r) {
    r.context_tokens = arch.context_tokens;
    r.longest_context_tokens = arch.longest_context;
    r.kv_cache_bytes_per_token = static_cast<std::uint64_t>(arch.kv_cache_bytes_per_token);
    std::int64_t parameters = r.total_parameters;
    if (parameters == 0)
        for (const auto& spec : arch.tensors)
            if (!spec.optional) parameters += shape_numel(spec.shape);
    r.cpu.weights_bytes = static_cast<std::uint64_t>(parameters) * 2;
    if (r.gguf) {
        r.cpu.weights_bytes = 0;
        for (const auto& p : r.parts) r.cpu.weights_bytes += std::min(p.bytes, static_cast<std::uint64_t>(p.parameters) * 2);
    }
    r.cpu.kv_cache_bytes = r.kv_cache_bytes_per_token * static_cast<std::uint64_t>(r.context_tokens);
    r.cpu.workspace_bytes = static_cast<std::uint64_t>(arch.workspace_bytes);
    r.gpu = r.cpu;
    r.gpu.runtime_bytes = kCudaRuntimeBytes;
}

}  // namespace

InspectReport inspect_model_folder(const std::filesystem::path& folder) {
    InspectReport r;
    r.folder = folder;
    std::error_code ec;
    if (!std::filesystem::is_directory(folder, ec)) {
        r.problems.push_back(folder.string() + ": not a folder");
        return r;
    }
    for (const char* name : {"config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json",
                             "tokenizer.model", "tokenizer_config.json", "chat_template.json", "model.safetensors",
                             "model.safetensors.index.json"})
        r.files.emplace_back(name, std::filesystem::exists(folder / name));
    const auto arch = inspect_config(folder, r);
    inspect_weights(folder, arch, r);
    for (const auto& p : r.parts) r.total_parameters += p.parameters;
    inspect_companion_files(folder, arch, r);
    if (arch) estimate_memory(*arch, r);
    return r;
}

InspectReport inspect_model(const std::filesystem::path& model) {
    std::filesystem::path folder;
    try {
        folder = resolve_model_path(model);
    } catch (const Error& e) {
        InspectReport r;
        r.folder = model;
        r.problems.push_back(e.what());
        return r;
    }
    return inspect_model_folder(folder);
}

// ---------------------------------------------------------------------------------------------------------------
// Presentation

std::string human_bytes(std::uint64_t bytes) {
    const char* units[] = {"B", "kB", "MB", "GB", "TB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1000.0 && unit < 4) {
        value /= 1000.0;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.2f %s", value, units[unit]);
    return text;
}

std::string human_count(std::int64_t count) {
    const char* units[] = {"", " k", " M", " B", " T"};
    double value = static_cast<double>(count);
    int unit = 0;
    while (std::abs(value) >= 1000.0 && unit < 4) {
        value /= 1000.0;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof text, unit == 0 ? "%.0f%s" : "%.3f%s", value, units[unit]);
    return text;
}

std::string to_json(const InspectReport& r) {
    using nlohmann::ordered_json;
    ordered_json j;
    j["folder"] = r.folder.string();
    j["model_type"] = r.model_type;
    j["family"] = r.family;
    j["name"] = r.display_name;
    j["runnable"] = r.runnable;
    if (!r.not_runnable_reason.empty()) j["not_runnable_reason"] = r.not_runnable_reason;
    j["ok"] = r.ok();
    j["facts"] = ordered_json::object();
    for (const auto& [key, value] : r.facts) j["facts"][key] = value;
    j["files"] = ordered_json::object();
    for (const auto& [name, present] : r.files) j["files"][name] = present;
    j["parameters"] = {{"total", r.total_parameters}, {"parts", ordered_json::array()}};
    for (const auto& p : r.parts)
        j["parameters"]["parts"].push_back({{"name", p.name}, {"parameters", p.parameters}, {"bytes", p.bytes}, {"tensors", p.tensors}});
    j["weights"] = {{"file_bytes", r.weight_file_bytes}, {"shards", r.shards}, {"dtypes", ordered_json::object()}};
    for (const auto& [dtype, stats] : r.dtypes) j["weights"]["dtypes"][dtype] = {{"tensors", stats.first}, {"bytes", stats.second}};
    j["tokenizer"] = {{"kind", r.tokenizer}, {"vocab", r.tokenizer_vocab}, {"chat_template", r.has_chat_template}};
    j["deepstack_plan"] = ordered_json::array();
    for (const auto& s : r.deepstack_plan)
        j["deepstack_plan"].push_back({{"group", s.group}, {"source", s.source}, {"target", s.target},
                                       {"target_layer", s.target_layer}, {"placement", s.placement}});
    auto memory = [](const InspectMemory& m) {
        return ordered_json{{"weights_bytes", m.weights_bytes}, {"kv_cache_bytes", m.kv_cache_bytes},
                            {"workspace_bytes", m.workspace_bytes}, {"runtime_bytes", m.runtime_bytes},
                            {"total_bytes", m.total_bytes()}};
    };
    j["longest_context_tokens"] = r.longest_context_tokens;
    j["memory_bf16"] = {{"context_tokens", r.context_tokens},
                        {"kv_cache_bytes_per_token", r.kv_cache_bytes_per_token},
                        {"cpu", memory(r.cpu)},
                        {"gpu", memory(r.gpu)},
                        {"basis", "estimate from the shapes; measure with deepstack-cli bench"}};
    j["problems"] = r.problems;
    j["warnings"] = r.warnings;
    j["notes"] = r.notes;
    return j.dump(2);
}

std::string to_text(const InspectReport& r) {
    std::string out;
    auto line = [&](const std::string& text) { out += text + "\n"; };
    if (const auto gguf = r.gguf ? models::gguf_files_of(r.folder) : std::nullopt) {
        line(gguf->text.string() + (gguf->mmproj ? " + " + gguf->mmproj->filename().string() : std::string()));
        line("  (GGUF, read in place; its metadata as a model folder in " + r.folder.string() + ")");
    } else {
        line(r.folder.string());
    }
    line("  family:          " + (r.family.empty() ? std::string("unknown") : r.display_name + " (" + r.family + ")") +
         (r.runnable ? "" : r.family.empty() ? "" : ", not runnable: " + r.not_runnable_reason));
    for (const auto& [key, value] : r.facts) line("  " + key + ": " + std::string(key.size() < 15 ? 15 - key.size() : 1, ' ') + value);
    line("");
    line("  parameters (from the tensors):");
    for (const auto& p : r.parts)
        line("    " + p.name + std::string(p.name.size() < 16 ? 16 - p.name.size() : 1, ' ') + human_count(p.parameters) +
             "  (" + std::to_string(p.tensors) + " tensors, " + human_bytes(p.bytes) + ")");
    line("    total           " + human_count(r.total_parameters));
    std::string dtypes;
    for (const auto& [dtype, stats] : r.dtypes)
        dtypes += (dtypes.empty() ? "" : ", ") + dtype + " x" + std::to_string(stats.first) + " (" + human_bytes(stats.second) + ")";
    line("  weights:         " + human_bytes(r.weight_file_bytes) + " in " + std::to_string(r.shards) + (r.shards == 1 ? " file" : " files") +
         (dtypes.empty() ? "" : "; " + dtypes));
    line("  tokenizer:       " + r.tokenizer + (r.tokenizer_vocab > 0 ? ", " + std::to_string(r.tokenizer_vocab) + " ids" : "") +
         (r.has_chat_template ? ", chat template" : ""));
    if (!r.deepstack_plan.empty()) {
        line("");
        line("  DeepStack plan:");
        for (const auto& s : r.deepstack_plan) line("    " + s.group + " <- " + s.source + ": " + s.placement + " of the " + s.target);
    }
    if (r.context_tokens > 0) {
        line("");
        line("  memory at bf16 (estimate, context " + std::to_string(r.context_tokens) + " tokens):");
        auto memory = [&](const char* device, const InspectMemory& m) {
            line(std::string("    ") + device + human_bytes(m.total_bytes()) + " = weights " + human_bytes(m.weights_bytes) +
                 " + KV cache " + human_bytes(m.kv_cache_bytes) + " + activations " + human_bytes(m.workspace_bytes) +
                 (m.runtime_bytes ? " + CUDA runtime " + human_bytes(m.runtime_bytes) : ""));
        };
        memory("CPU: ", r.cpu);
        memory("GPU: ", r.gpu);
    }
    for (const auto& n : r.notes) line("  note: " + n);
    for (const auto& w : r.warnings) line("  warning: " + w);
    if (!r.problems.empty()) {
        line("");
        line("  problems (" + std::to_string(r.problems.size()) + "):");
        for (const auto& p : r.problems) line("    - " + p);
    } else {
        line("  no problems found");
    }
    return out;
}

}  // namespace deepstack

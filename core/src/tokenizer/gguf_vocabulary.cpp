#include "tokenizer/gguf_vocabulary.h"

#include <map>
#include <string>

#include "deepstack/error.h"
#include "deepstack/gguf.h"

namespace deepstack::tokenizer {

namespace {

// llama.cpp's token types (llama_token_type).
enum TokenType : std::int64_t { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

// The split pattern of each pre-tokenizer llama.cpp names in tokenizer.ggml.pre, as the model's own
// tokenizer.json spells it.
const std::map<std::string, std::string>& split_patterns() {
    static const std::map<std::string, std::string> patterns{
        {"qwen2", R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"},
    };
    return patterns;
}

const nlohmann::ordered_json& array_of(const GgufFile& file, const std::string& key) {
    if (!file.has(key) || !file.metadata().at(key).is_array())
        throw Error(ErrorKind::format, file.path().string(), key, "missing or not a list");
    return file.metadata().at(key);
}

}  // namespace

config::Json tokenizer_json_from_gguf(const GgufFile& file) {
    const auto model = file.string("tokenizer.ggml.model");
    if (model != "gpt2")
        throw Error(ErrorKind::unsupported, file.path().string(), "tokenizer.ggml.model",
                    "is '" + model + "'; this version reads byte-level BPE vocabularies ('gpt2') from GGUF files");
    const auto pre = file.has("tokenizer.ggml.pre") ? file.string("tokenizer.ggml.pre") : std::string("default");
    const auto pattern = split_patterns().find(pre);
    if (pattern == split_patterns().end())
        throw Error(ErrorKind::unsupported, file.path().string(), "tokenizer.ggml.pre",
                    "pre-tokenizer '" + pre + "' is not one this version knows (known: qwen2)");
    const auto& tokens = array_of(file, "tokenizer.ggml.tokens");
    const auto& types = array_of(file, "tokenizer.ggml.token_type");
    const auto& merges = array_of(file, "tokenizer.ggml.merges");
    if (types.size() != tokens.size())
        throw Error(ErrorKind::format, file.path().string(), "tokenizer.ggml.token_type",
                    "has " + std::to_string(types.size()) + " entries for " + std::to_string(tokens.size()) + " tokens");

    config::Json vocab = config::Json::object();
    config::Json added = config::Json::array();
    for (std::size_t id = 0; id < tokens.size(); ++id) {
        if (!tokens[id].is_string() || !types[id].is_number_integer())
            throw Error(ErrorKind::format, file.path().string(), "tokenizer.ggml.tokens", "entry " + std::to_string(id) + " is not a string with a type");
        const auto type = types[id].get<std::int64_t>();
        const auto& text = tokens[id].get_ref<const std::string&>();
        if (type == unused) continue;  // the padding rows ("[PAD151669]") past the real vocabulary
        if (type == control || type == user_defined) {
            added.push_back({{"id", id}, {"content", text}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                             {"normalized", false}, {"special", type == control}});
            continue;
        }
        vocab[text] = id;
    }
    config::Json merge_list = config::Json::array();
    for (const auto& m : merges) merge_list.push_back(m.is_string() ? m.get<std::string>() : std::string());

    const config::Json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
    config::Json split = {{"type", "Split"}, {"behavior", "Isolated"}, {"invert", false}};
    split["pattern"] = {{"Regex", pattern->second}};
    config::Json bpe = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""},
                        {"end_of_word_suffix", ""}, {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", false}};
    bpe["vocab"] = std::move(vocab);
    bpe["merges"] = std::move(merge_list);
    config::Json json;
    json["version"] = "1.0";
    json["added_tokens"] = std::move(added);
    json["normalizer"] = {{"type", "NFC"}};
    json["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", config::Json::array({split, byte_level})}};
    json["decoder"] = byte_level;
    json["model"] = std::move(bpe);
    return json;
}

config::Json tokenizer_config_from_gguf(const GgufFile& file) {
    const auto& tokens = array_of(file, "tokenizer.ggml.tokens");
    const auto token_text = [&](const std::string& key) -> std::optional<std::string> {
        if (!file.has(key)) return std::nullopt;
        const auto id = file.integer(key);
        if (id < 0 || static_cast<std::size_t>(id) >= tokens.size() || !tokens[static_cast<std::size_t>(id)].is_string())
            throw Error(ErrorKind::format, file.path().string(), key, std::to_string(id) + " is not a token of the vocabulary");
        return tokens[static_cast<std::size_t>(id)].get<std::string>();
    };
    config::Json c = config::Json::object();
    if (file.has("tokenizer.chat_template")) c["chat_template"] = file.string("tokenizer.chat_template");
    if (auto bos = token_text("tokenizer.ggml.bos_token_id")) c["bos_token"] = *bos;
    if (auto eos = token_text("tokenizer.ggml.eos_token_id")) c["eos_token"] = *eos;
    if (auto pad = token_text("tokenizer.ggml.padding_token_id")) c["pad_token"] = *pad;
    c["add_bos_token"] = file.has("tokenizer.ggml.add_bos_token") && file.metadata().at("tokenizer.ggml.add_bos_token") == true;
    return c;
}

}  // namespace deepstack::tokenizer

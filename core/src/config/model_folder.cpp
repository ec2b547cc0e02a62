#include "deepstack/model_folder.h"

#include "config/json_fields.h"
#include "tokenizer/sentencepiece_model.h"

namespace deepstack {

using config::Fields;

std::string_view to_string(TokenizerKind kind) {
    switch (kind) {
        case TokenizerKind::none: return "none";
        case TokenizerKind::byte_level_bpe: return "byte-level BPE (tokenizer.json)";
        case TokenizerKind::sentencepiece: return "sentencepiece (tokenizer.model)";
    }
    return "?";
}

GenerationConfig read_generation_config(const std::filesystem::path& file) {
    const auto json = config::read_json_file(file);
    const Fields f(json, file.string());
    GenerationConfig g;
    g.present = true;
    if (f.has("eos_token_id")) g.eos_token_ids = f.integer_or_integers("eos_token_id");
    if (f.has("bos_token_id")) g.bos_token_id = f.integer("bos_token_id");
    if (f.has("pad_token_id")) g.pad_token_id = f.integer("pad_token_id");
    g.do_sample = f.boolean("do_sample", false);
    if (f.has("temperature")) g.temperature = f.number("temperature");
    if (f.has("top_p")) g.top_p = f.number("top_p");
    if (f.has("top_k")) g.top_k = f.integer("top_k");
    if (f.has("repetition_penalty")) g.repetition_penalty = f.number("repetition_penalty");
    if (f.has("presence_penalty")) g.presence_penalty = f.number("presence_penalty");
    if (f.has("max_new_tokens")) g.max_new_tokens = f.integer("max_new_tokens");
    if (g.temperature && *g.temperature < 0) throw f.error("temperature", "must not be negative");
    if (g.top_p && (*g.top_p <= 0 || *g.top_p > 1)) throw f.error("top_p", "must be in (0, 1]");
    return g;
}

ImagePreprocessorConfig read_preprocessor_config(const std::filesystem::path& file) {
    const auto json = config::read_json_file(file);
    const Fields f(json, file.string());
    ImagePreprocessorConfig p;
    p.present = true;
    p.processor_type = f.string("image_processor_type", "");
    p.patch_size = f.integer("patch_size", 0);
    p.temporal_patch_size = f.integer("temporal_patch_size", 0);
    p.merge_size = f.integer("merge_size", 0);
    // Qwen2-VL processors keep the pixel budget in size.{shortest,longest}_edge (counts of pixels); older
    // files used min_pixels / max_pixels, which win when both are there.
    if (const auto size = f.optional_object("size")) {
        if (p.patch_size > 0) {
            p.min_pixels = size->integer("shortest_edge", 0);
            p.max_pixels = size->integer("longest_edge", 0);
        } else if (size->has("shortest_edge")) {
            p.crop_size = size->integer("shortest_edge");
        }
    }
    p.min_pixels = f.integer("min_pixels", p.min_pixels);
    p.max_pixels = f.integer("max_pixels", p.max_pixels);
    if (const auto crop = f.optional_object("crop_size")) p.crop_size = crop->integer("height", p.crop_size);
    else if (f.has("crop_size")) p.crop_size = f.integer("crop_size");
    auto triple = [&](const char* key, std::array<double, 3>& out) {
        if (!f.has(key)) return;
        const auto values = f.numbers(key);
        if (values.size() != 3) throw f.error(key, "expected 3 values (R, G, B), found " + std::to_string(values.size()));
        std::copy(values.begin(), values.end(), out.begin());
    };
    triple("image_mean", p.image_mean);
    triple("image_std", p.image_std);
    for (const double s : p.image_std)
        if (f.has("image_std") && s <= 0) throw f.error("image_std", "values must be positive");
    if (p.min_pixels > 0 && p.max_pixels > 0 && p.min_pixels > p.max_pixels)
        throw f.error("size", "the minimum pixel count " + std::to_string(p.min_pixels) + " exceeds the maximum " +
                                  std::to_string(p.max_pixels));
    return p;
}

namespace {

std::optional<std::string> token_text(const Fields& f, const std::string& key) {
    if (!f.has(key)) return std::nullopt;
    const auto& value = f.json().at(key);
    if (value.is_string()) return value.get<std::string>();
    // tokenizer_config.json may spell a token as {"content": "<s>", ...}.
    if (value.is_object() && value.contains("content") && value.at("content").is_string())
        return value.at("content").get<std::string>();
    throw f.error(key, "expected a token string");
}

void read_tokenizer_json(const std::filesystem::path& file, TokenizerFiles& t) {
    const auto json = config::read_json_file(file);
    const Fields root(json, file.string());
    const auto model = root.object("model");
    const auto type = model.string("type", "BPE");
    if (type != "BPE") throw model.error("type", "'" + type + "' is not supported; only BPE tokenizer.json files are");
    const auto& vocab = model.at("vocab");
    if (!vocab.is_object()) throw model.error("vocab", "expected an object of token -> id");
    t.vocab_entries = static_cast<std::int64_t>(vocab.size());
    for (const auto& [token, id] : vocab.items()) {
        if (!id.is_number_integer() || id.get<std::int64_t>() < 0)
            throw model.error("vocab", "token '" + token + "' has an id that is not a non-negative integer");
        t.max_token_id = std::max(t.max_token_id, id.get<std::int64_t>());
    }
    if (root.has("added_tokens")) {
        const auto& added = root.json().at("added_tokens");
        if (!added.is_array()) throw root.error("added_tokens", "expected a list");
        for (const auto& token : added) {
            if (!token.is_object() || !token.contains("id") || !token.contains("content") ||
                !token.at("id").is_number_integer() || !token.at("content").is_string())
                throw root.error("added_tokens", "entry " + token.dump() + " lacks an integer id or a content string");
            const auto id = token.at("id").get<std::int64_t>();
            t.max_token_id = std::max(t.max_token_id, id);
            ++t.added_tokens;
            if (token.value("special", false)) t.special_tokens[token.at("content").get<std::string>()] = id;
        }
    }
    t.tokenizer_json = file;
    t.kind = TokenizerKind::byte_level_bpe;
}

void read_tokenizer_model(const std::filesystem::path& file, TokenizerFiles& t) {
    const auto model = tokenizer::read_sentencepiece_model(file);
    t.tokenizer_model = file;
    t.vocab_entries = static_cast<std::int64_t>(model.pieces.size());
    t.max_token_id = std::max<std::int64_t>(t.max_token_id, t.vocab_entries - 1);
    for (std::size_t id = 0; id < model.pieces.size(); ++id) {
        const auto type = model.pieces[id].type;
        if (type == tokenizer::SentencePieceModel::PieceType::control || type == tokenizer::SentencePieceModel::PieceType::unknown)
            t.special_tokens[model.pieces[id].text] = static_cast<std::int64_t>(id);
    }
    if (t.kind == TokenizerKind::none) t.kind = TokenizerKind::sentencepiece;
}

}  // namespace

TokenizerFiles read_tokenizer_files(const std::filesystem::path& folder) {
    TokenizerFiles t;
    // A sentencepiece model is what LLaMA-family checkpoints are tokenized with; when a folder has both files,
    // tokenizer.json is the converted form of the same vocabulary and byte-level BPE folders have no .model.
    if (std::filesystem::exists(folder / "tokenizer.model")) read_tokenizer_model(folder / "tokenizer.model", t);
    else if (std::filesystem::exists(folder / "tokenizer.json")) read_tokenizer_json(folder / "tokenizer.json", t);

    if (std::filesystem::exists(folder / "tokenizer_config.json")) {
        const auto file = folder / "tokenizer_config.json";
        const auto json = config::read_json_file(file);
        const Fields f(json, file.string());
        t.bos_token = token_text(f, "bos_token");
        t.eos_token = token_text(f, "eos_token");
        if (f.has("chat_template") && f.json().at("chat_template").is_string()) t.chat_template = f.string("chat_template");
        if (f.has("model_max_length") && f.json().at("model_max_length").is_number_integer())
            t.model_max_length = f.integer("model_max_length");
        if (f.has("added_tokens_decoder") && f.json().at("added_tokens_decoder").is_object())
            for (const auto& [id, token] : f.json().at("added_tokens_decoder").items())
                if (token.is_object() && token.value("special", false) && token.contains("content") &&
                    token.at("content").is_string()) {
                    if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos || id.size() > 18)
                        throw f.error("added_tokens_decoder", "key '" + id + "' is not a token id");
                    t.special_tokens.emplace(token.at("content").get<std::string>(), std::stoll(id));
                }
    }
    if (std::filesystem::exists(folder / "chat_template.json")) {
        const auto file = folder / "chat_template.json";
        const auto json = config::read_json_file(file);
        t.chat_template = Fields(json, file.string()).string("chat_template");
    }
    return t;
}

}  // namespace deepstack

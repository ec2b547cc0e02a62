// inspect, pull, tokenize, chat and bench: a model folder described, fetched, asked and timed.
#include "commands.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "deepstack/bench.h"
#include "deepstack/engine.h"
#include "deepstack/hub.h"
#include "deepstack/image.h"
#include "deepstack/inspect.h"
#include "deepstack/remote.h"
#include "deepstack/system.h"
#include "deepstack/tokenizer.h"

#include "arguments.h"

namespace deepstack::cli {

namespace {

std::string megabytes(std::uint64_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(bytes) / 1e6);
    return text;
}

// The model a chat runs on: the folder or GGUF file --model names, or with --server an existing serving engine
// (llama-server, vLLM, SGLang) where --model names the model it serves.
std::unique_ptr<Model> open_model(const Arguments& a, const std::string& model, const EngineOptions& options) {
    const auto server = a.get("--server");
    if (!server) return Model::load(model_path(a, model), options);
    RemoteOptions remote;
    remote.base_url = *server;
    remote.model = model;
    const char* key = std::getenv("DEEPSTACK_API_KEY");
    remote.api_key = a.get("--api-key").value_or(key != nullptr ? key : "");
    if (options.max_image_pixels > 0) remote.max_image_pixels = options.max_image_pixels;
    return connect_remote(remote);
}

}  // namespace

int run_inspect(const std::vector<std::string>& args) {
    const auto a = parse(args, {"--json"});
    if (a.positional.size() != 1) throw std::invalid_argument("inspect: give one model folder");
    const auto report = inspect_model_folder(model_path(a, a.positional.front()));
    std::cout << (a.flag("--json") ? to_json(report) + "\n" : to_text(report));
    return report.ok() ? 0 : 1;
}

int run_pull(const std::vector<std::string>& args) {
    const auto a = parse(args, {});
    if (a.positional.size() != 1)
        throw std::invalid_argument("pull: give one repository id, such as Qwen/Qwen3-VL-2B-Instruct");
    auto settings = hub_settings_from_environment();
    if (const auto token = a.get("--token")) settings.token = *token;
    stop_on_interrupt();
    // One line, rewritten in place: the file, its share, the whole, the speed and the time left.
    const auto progress = [last = std::chrono::steady_clock::time_point()](const HubProgress& p) mutable {
        const auto now = std::chrono::steady_clock::now();
        if (now - last < std::chrono::milliseconds(200) && p.file_done != p.file_size) return;
        last = now;
        const double left_s = p.bytes_per_s > 0 ? static_cast<double>(p.total - p.done) / p.bytes_per_s : 0;
        char line[256];
        std::snprintf(line, sizeof line, "\r[%zu/%zu] %-40.40s %s of %s  %.1f MB/s  %.0f s left   ",
                      p.files_done + 1 > p.files ? p.files : p.files_done + 1, p.files, p.file.c_str(),
                      megabytes(p.done).c_str(), megabytes(p.total).c_str(), p.bytes_per_s / 1e6, left_s);
        std::cerr << line << std::flush;
    };
    const auto snapshot = hub_download(settings, a.positional.front(), a.get("--revision").value_or("main"),
                                       a.all("--include"), progress, &interrupted);
    std::cerr << "\n";
    std::cout << snapshot.string() << "\n";
    return 0;
}

int run_tokenize(const std::vector<std::string>& args) {
    const auto a = parse(args, {"--decode"});
    const auto model = a.get("--model");
    if (!model || !a.positional.empty())
        throw std::invalid_argument("tokenize: --model DIR is required, and nothing else");
    const auto tokenizer = Tokenizer::load(model_path(a, *model));
    const std::string input{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    if (!a.flag("--decode")) {
        std::cout << nlohmann::json(tokenizer->encode(input)).dump() << "\n";
        return 0;
    }
    std::vector<TokenId> ids;
    try {
        ids = nlohmann::json::parse(input).get<std::vector<TokenId>>();
    } catch (const nlohmann::json::exception& e) {
        std::cerr << "deepstack-cli: tokenize --decode: stdin is not a JSON list of token ids: " << e.what() << "\n";
        return 1;
    }
    for (const auto id : ids)
        if (id < 0 || id >= tokenizer->size()) {
            std::cerr << "deepstack-cli: tokenize --decode: token id " << id << " is outside the vocabulary of "
                      << tokenizer->size() << "\n";
            return 1;
        }
    std::cout << tokenizer->decode(ids);
    return 0;
}

int run_chat(const std::vector<std::string>& args) {
    const auto a = parse(args, {"--json"});
    const auto folder = a.get("--model");
    const auto prompt = a.get("--prompt");
    if (!folder || !prompt || !a.positional.empty())
        throw std::invalid_argument("chat: --model DIR and --prompt TEXT are required");
    // Options are checked before the (slow) load, so that a typo fails at once.
    const auto options = engine_options(a);
    const std::vector<std::string> sampling_options{"--max-tokens",         "--temperature",      "--top-k", "--top-p",
                                                    "--repetition-penalty", "--presence-penalty", "--seed"};
    for (const auto& name : sampling_options) (void)number(a, name, 0);
    Message message{Message::Role::user, *prompt, {}};
    for (const auto& file : a.all("--image")) message.images.push_back(load_picture(file));

    const auto model = open_model(a, *folder, options);
    const auto sampling = sampling_from(a, model->default_sampling());

    // Ctrl+C stops the answer at the next token instead of killing the process.
    stop_on_interrupt();
    const bool json = a.flag("--json");
    auto conversation = model->start_conversation(a.get("--system").value_or(""));
    const auto result = conversation->send(message, sampling,
                                           {[&](std::string_view text) {
                                                if (!json) std::cout << text << std::flush;
                                            },
                                            {}},
                                           &interrupted);
    if (!json) {
        std::cout << "\n";
        if (result.stop == StopReason::cancelled) std::cerr << "(stopped)\n";
        if (result.stop == StopReason::interrupted)
            std::cerr << "(the server stopped answering; the answer so far is above)\n";
        return 0;
    }
    nlohmann::ordered_json j;
    j["text"] = result.text;
    j["tokens"] = result.tokens;
    j["stop"] = std::string(to_string(result.stop));
    j["prompt_tokens"] = result.prompt_tokens;
    j["image_tokens"] = result.image_tokens;
    j["vision_reused"] = result.vision_reused;
    j["timings_ms"] = {{"vision", result.vision_ms},
                       {"prefill", result.prefill_ms},
                       {"time_to_first_token", result.time_to_first_token_ms},
                       {"decode", result.decode_ms}};
    j["prefill_tokens_per_s"] = result.prefill_tokens_per_s();
    j["decode_tokens_per_s"] = result.decode_tokens_per_s();
    j["peak_rss_bytes"] = peak_rss_bytes();
    j["model"] = {{"family", model->info().family},
                  {"device", model->info().device},
                  {"compute", model->info().compute},
                  {"max_image_pixels", model->info().max_image_pixels}};
    std::cout << j.dump(2) << "\n";
    return 0;
}

int run_bench(const std::vector<std::string>& args) {
    const auto a = parse(args, {"--stop-latency"});
    BenchOptions o;
    if (const auto m = a.get("--model")) o.model = model_path(a, *m);
    o.random_preset = a.get("--random").value_or("");
    if (o.model.empty() == o.random_preset.empty())
        throw std::invalid_argument("bench: give either --model DIR or --random PRESET");
    o.engine = engine_options(a);
    if (const auto image = a.get("--image")) {
        if (*image == "none")
            o.image_width = o.image_height = 0;
        else if (std::sscanf(image->c_str(), "%dx%d", &o.image_width, &o.image_height) != 2)
            throw std::invalid_argument("bench: --image WxH, for example 640x480 (or none)");
    }
    o.prompt_text_tokens = static_cast<int>(whole(a, "--prompt-tokens", o.prompt_text_tokens, 1, 1 << 20));
    o.new_tokens = static_cast<int>(whole(a, "--new-tokens", o.new_tokens, 1, 1 << 20));
    o.layers = static_cast<int>(whole(a, "--layers", 0, 0, 1024));
    o.repeat = static_cast<int>(whole(a, "--repeat", 1, 1, 100));
    o.stop_latency = a.flag("--stop-latency");
    std::cout << run_bench(o) << "\n";
    return 0;
}

}  // namespace deepstack::cli

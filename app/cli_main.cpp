// deepstack-cli: the headless entry point. Each command is a thin layer over the core.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <csignal>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "deepstack/attention.h"
#include "deepstack/bench.h"
#include "deepstack/engine.h"
#include "deepstack/error.h"
#include "deepstack/hub.h"
#include "deepstack/image.h"
#include "deepstack/model_folder.h"
#include "deepstack/remote.h"
#include "deepstack/inspect.h"
#include "deepstack/synthetic.h"
#include "deepstack/system.h"
#include "deepstack/training.h"
#include "deepstack/tokenizer.h"

namespace {

constexpr const char* kUsage =
    "usage: deepstack-cli <command> [options]\n"
    "\n"
    "commands:\n"
    "  inspect DIR|FILE.gguf [--mmproj FILE] [--json]\n"
    "                         describe a model folder: family, parameters per part, dtypes, DeepStack plan,\n"
    "                         memory needed at bf16; lists every problem found. Exit status 1 if any.\n"
    "  pull REPO [--revision R] [--include GLOB]... [--token T]\n"
    "                         fetch a model from the Hugging Face Hub into its shared cache (HF_HUB_CACHE, HF_HOME,\n"
    "                         ~/.cache/huggingface/hub; HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE as huggingface_hub\n"
    "                         reads them): resumed where it stopped, every file verified; prints the snapshot folder\n"
    "  tokenize --model DIR [--decode]\n"
    "                         read UTF-8 text on stdin and print its token ids as a JSON list; with --decode,\n"
    "                         read a JSON list of ids and print the text\n"
    "  chat --model DIR --prompt TEXT [--image FILE]... [--system TEXT] [--json]\n"
    "  chat --server URL --model NAME [--api-key KEY] ...\n"
    "                         the same through an OpenAI-compatible server (llama-server, vLLM, SGLang): URL is\n"
    "                         the API's root (http://host:port/v1), NAME a model it serves; the key may also come\n"
    "                         from DEEPSTACK_API_KEY\n"
    "                         answer one question about the images, streaming the answer to stdout; --json\n"
    "                         prints tokens, timings and peak memory at the end instead\n"
    "  bench (--model DIR | --random qwen3-vl-2b|qwen3-vl-4b|qwen3-vl-8b|deepstack-l-7b|deepstack-l-hd-7b)\n"
    "        [--layers N] [--image WxH] [--prompt-tokens N] [--new-tokens N] [--repeat N] [--stop-latency]\n"
    "        time load, vision encode, prefill and decode; print JSON (DeepStack: also stacks vs sequence);\n"
    "        on a GPU one untimed pass first; --repeat: each phase's median over N passes (Qwen3-VL);\n"
    "        --stop-latency: Stop set at four points of the vision pass and of the prefill, and how long each\n"
    "        then takes to return (Qwen3-VL)\n"
    "  attention --model DIR --image FILE --prompt TEXT --out DIR [--layers all|L,L-L] [--tokens SPEC]\n"
    "        [--head mean|max|N] [--opacity X] [--cap-mb N]\n"
    "                         answer, then record where each layer looked: writes a heatmap PNG per layer (and on\n"
    "                         the high-resolution grid of each stacked group where it enters), the numbers as\n"
    "                         attention.json and attention.csv, and stack-plan.json. --tokens: answer (default),\n"
    "                         question, all, or answer token indexes such as 3 or 2-5\n"
    "  ablate --model DIR --image FILE --prompt TEXT [--groups all|N,N-N] [--each] [--out FILE]\n"
    "                         answer, then run the answer again with the chosen stacked groups left out (numbered as\n"
    "                         in the stack plan, 1 = the first to enter; default all): the answer without them\n"
    "                         (the chat's sampling options apply) and, for every token of the original answer, its\n"
    "                         log-probability and logit margin with and without them, as JSON; --each adds one row\n"
    "                         per group left out alone\n"
    "  stack-map --model DIR --image FILE --prompt TEXT --out DIR [--opacity X]\n"
    "                         answer, then measure every stacked group: how much it changes the hidden state of each\n"
    "                         image position where it joins (|added| / |hidden|, cosine) and what reaches the last\n"
    "                         layer; writes a heatmap PNG of each per group and stack-map.json\n"
    "  synth --out DIR [--split train|held-out] [--from N] [--count N] [--size PX] [--text-height PX]\n"
    "                         write synthetic pages (PNG) and their questions and answers (questions.jsonl), the\n"
    "                         data the demo model is trained and evaluated on, and each page's reading turn\n"
    "                         (reading.jsonl: the page read out, or a scene's shapes listed; training only)\n"
    "  train --base DIR --out DIR [--no-stacks] [--steps N] [--batch N] [--lr X] [--warmup N]\n"
    "        [--questions-per-page N] [--checkpoint-every N] [--stop-after N] [--seed S] [--page-size PX]\n"
    "        [--text-height PX] [--log-every N] [--threads N] [--distinct-pages N] [--reading-turn]\n"
    "        [--glyph-loss W] [--init-from RUN|MODEL] [--ema DECAY] [--device cpu|cuda] [--model-bf16]\n"
    "        [--page-workers N] [--start-step N]\n"
    "                         train the demo model (the DeepStack-L config and tokenizer.model in --base) on\n"
    "                         synthetic pages; resumes from --out's checkpoint; Ctrl+C or SIGTERM checkpoints and\n"
    "                         stops; every checkpoint also writes the weights as a model folder to --out/model\n"
    "                         (--model-bf16: in bf16 even when fp32 fits); --distinct-pages N cycles through the\n"
    "                         first N pages (a model that uses the picture learns them by heart: a quick check);\n"
    "                         --reading-turn also trains each page read out in full, in a conversation of its own;\n"
    "                         --text-height: the small print's cap height (default 6.5 pixels of the page);\n"
    "                         --glyph-loss W also teaches the vision tower to name the characters in each\n"
    "                         high-resolution patch, weighted W (a training-only head; default 0: off);\n"
    "                         --init-from starts from another run's checkpoint or a model folder's weights\n"
    "                         (a curriculum: larger print first), with a new optimizer and schedule;\n"
    "                         --start-step N with --init-from: the schedule and the pages go on from step N, as\n"
    "                         if the source had made the first N (a run carried to another machine by its\n"
    "                         weights), the fresh optimizer warmed up again;\n"
    "                         --ema 0.999: the model folder holds the weights' moving average, not the last step's;\n"
    "                         --page-workers N: a batch's pages computed N at a time on the CPU, each with\n"
    "                         threads / N threads (default: one page per thread, at most the batch; the\n"
    "                         weights do not depend on N)\n"
    "  evaluate --model DIR [--from N] [--pages N] [--page-size PX] [--text-height PX] [--threads N]\n"
    "        [--device cpu|cuda] [--field-attention] [--reading] [--page-workers N]\n"
    "                         exact-match accuracy on held-out synthetic pages N .. N + pages - 1 (default 0 .. 199),\n"
    "                         per question kind, as JSON; --field-attention adds, per layer, how much of the\n"
    "                         answers' attention on the picture falls on the field asked about; --reading asks\n"
    "                         each page to be read out too and scores the transcripts by characters;\n"
    "                         --page-workers N answers N pages at a time, each with a copy of the model\n"
    "  help                   show this text\n"
    "\n"
    "chat, bench, attention, ablate and stack-map options:\n"
    "  --device cpu|cuda  --dtype auto|bf16|f32  --weights auto|q8_0|q4_k|q4_0  --threads N\n"
    "  --context N  --min-pixels N  --max-pixels N\n"
    "  --weights: the language model's matrices quantized as they are read (GGUF's block formats, integer\n"
    "  kernels, fp32 activations; the CPU only); auto keeps them in the compute type\n"
    "  --max-tokens N  --temperature T  --top-k K  --top-p P  --repetition-penalty R  --presence-penalty P\n"
    "  --seed S  (sampling defaults come from the folder's generation_config.json)\n"
    "  --max-pixels N: the largest picture the model reads, in pixels after resizing (it sets the image tokens,\n"
    "  the time and the memory); default: the model's maximum on a GPU, 1 M pixels per 2 cores on the CPU (at\n"
    "  most 4 M); chat --json reports the budget in effect\n"
    "\n"
    "--model takes a model folder (Hugging Face layout, safetensors) or a llama.cpp .gguf file; a vision model's\n"
    "mmproj .gguf is named by --mmproj FILE or found beside it (the one file whose name holds 'mmproj')\n";

int usage_error(const std::string& message) {
    std::cerr << "deepstack-cli: " << message << "\n\n" << kUsage;
    return 2;
}

// "--name value" options and bare flags; repeated options keep every value.
struct Arguments {
    std::vector<std::string> positional;
    std::multimap<std::string, std::string> options;
    std::vector<std::string> flags;

    bool flag(const std::string& name) const { return std::find(flags.begin(), flags.end(), name) != flags.end(); }
    // An option given twice: the later one counts (a script's defaults, then what its caller adds).
    std::optional<std::string> get(const std::string& name) const {
        const auto [first, end] = options.equal_range(name);
        return first == end ? std::nullopt : std::optional(std::prev(end)->second);
    }
    std::vector<std::string> all(const std::string& name) const {
        std::vector<std::string> values;
        for (auto [it, end] = options.equal_range(name); it != end; ++it) values.push_back(it->second);
        return values;
    }
};

// What --model (or `given`) names, as a folder to load: a llama.cpp .gguf file is read with --mmproj FILE, or the
// mmproj file beside it.
std::filesystem::path model_path(const Arguments& a, const std::string& given) {
    const auto mmproj = a.get("--mmproj");
    return deepstack::resolve_model_path(given, mmproj ? std::optional<std::filesystem::path>(*mmproj) : std::nullopt);
}

Arguments parse(const std::vector<std::string>& args, const std::vector<std::string>& known_flags) {
    Arguments a;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const auto& arg = args[i];
        if (!arg.starts_with("--")) {
            a.positional.push_back(arg);
        } else if (std::find(known_flags.begin(), known_flags.end(), arg) != known_flags.end()) {
            a.flags.push_back(arg);
        } else if (i + 1 < args.size()) {
            a.options.emplace(arg, args[++i]);
        } else {
            throw std::invalid_argument(arg + " needs a value");
        }
    }
    return a;
}

double number(const Arguments& a, const std::string& name, double fallback) {
    const auto value = a.get(name);
    if (!value) return fallback;
    try {
        std::size_t used = 0;
        const double parsed = std::stod(*value, &used);
        if (used != value->size()) throw std::invalid_argument("");
        return parsed;
    } catch (const std::exception&) {
        throw std::invalid_argument(name + ": '" + *value + "' is not a number");
    }
}

// A whole number within [low, high]; anything else is a usage error, not a silent conversion.
std::int64_t whole(const Arguments& a, const std::string& name, std::int64_t fallback, std::int64_t low, std::int64_t high) {
    const double value = number(a, name, static_cast<double>(fallback));
    if (value != std::trunc(value) || value < static_cast<double>(low) || value > static_cast<double>(high))
        throw std::invalid_argument(name + ": expected a whole number from " + std::to_string(low) + " to " + std::to_string(high));
    return static_cast<std::int64_t>(value);
}

// The small print's cap height in pixels of the page (the default is what the demo model is trained for).
double text_height_option(const Arguments& a) {
    const double height = number(a, "--text-height", deepstack::SyntheticOptions{}.field_text_height);
    if (height < deepstack::kSmallestFieldTextHeight || height > deepstack::kLargestFieldTextHeight) {
        std::ostringstream message;
        message << "--text-height: expected " << deepstack::kSmallestFieldTextHeight << " to " << deepstack::kLargestFieldTextHeight
                << " pixels (the layouts have room for no more)";
        throw std::invalid_argument(message.str());
    }
    return height;
}

deepstack::DeviceKind device_option(const Arguments& a) {
    const auto device = a.get("--device").value_or("cpu");
    if (device != "cpu" && device != "cuda") throw std::invalid_argument("--device: cpu or cuda, not '" + device + "'");
    return device == "cuda" ? deepstack::DeviceKind::cuda : deepstack::DeviceKind::cpu;
}

deepstack::EngineOptions engine_options(const Arguments& a) {
    deepstack::EngineOptions o;
    o.device = device_option(a);
    const auto dtype = a.get("--dtype").value_or("auto");
    if (dtype != "auto" && dtype != "bf16" && dtype != "f32") throw std::invalid_argument("--dtype: auto, bf16 or f32, not '" + dtype + "'");
    o.compute = dtype == "f32" ? deepstack::ComputeType::f32 : dtype == "bf16" ? deepstack::ComputeType::bf16 : deepstack::ComputeType::automatic;
    const auto weights = a.get("--weights").value_or("auto");
    if (weights != "auto" && weights != "q8_0" && weights != "q4_k" && weights != "q4_0")
        throw std::invalid_argument("--weights: auto, q8_0, q4_k or q4_0, not '" + weights + "'");
    o.weights = weights == "q8_0"   ? deepstack::WeightFormat::q8_0
                : weights == "q4_k" ? deepstack::WeightFormat::q4_k
                : weights == "q4_0" ? deepstack::WeightFormat::q4_0
                                    : deepstack::WeightFormat::automatic;
    o.threads = static_cast<int>(whole(a, "--threads", 0, 0, 1024));
    o.context_tokens = whole(a, "--context", 8192, 16, 1 << 22);
    o.min_image_pixels = whole(a, "--min-pixels", 0, 0, 1ll << 34);
    o.max_image_pixels = whole(a, "--max-pixels", 0, 0, 1ll << 34);
    return o;
}

int run_inspect(const std::vector<std::string>& args) {
    const auto a = parse(args, {"--json"});
    if (a.positional.size() != 1) return usage_error("inspect: give one model folder");
    const auto report = deepstack::inspect_model_folder(model_path(a, a.positional.front()));
    std::cout << (a.flag("--json") ? deepstack::to_json(report) + "\n" : deepstack::to_text(report));
    return report.ok() ? 0 : 1;
}

int run_tokenize(const std::vector<std::string>& args) {
    const auto a = parse(args, {"--decode"});
    const auto model = a.get("--model");
    if (!model || !a.positional.empty()) return usage_error("tokenize: --model DIR is required, and nothing else");
    const auto tokenizer = deepstack::Tokenizer::load(model_path(a, *model));
    const std::string input{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    if (!a.flag("--decode")) {
        std::cout << nlohmann::json(tokenizer->encode(input)).dump() << "\n";
        return 0;
    }
    std::vector<deepstack::TokenId> ids;
    try {
        ids = nlohmann::json::parse(input).get<std::vector<deepstack::TokenId>>();
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

std::atomic<bool> g_interrupted{false};

// The model a chat runs on: the folder or GGUF file --model names, or with --server an existing serving engine
// (llama-server, vLLM, SGLang) where --model names the model it serves.
std::unique_ptr<deepstack::Model> open_model(const Arguments& a, const std::string& model, const deepstack::EngineOptions& options) {
    const auto server = a.get("--server");
    if (!server) return deepstack::Model::load(model_path(a, model), options);
    deepstack::RemoteOptions remote;
    remote.base_url = *server;
    remote.model = model;
    const char* key = std::getenv("DEEPSTACK_API_KEY");
    remote.api_key = a.get("--api-key").value_or(key != nullptr ? key : "");
    if (options.max_image_pixels > 0) remote.max_image_pixels = options.max_image_pixels;
    return deepstack::connect_remote(remote);
}

// The chat's sampling options over the model's defaults.
deepstack::SamplingSettings sampling_from(const Arguments& a, deepstack::SamplingSettings sampling) {
    sampling.max_new_tokens = whole(a, "--max-tokens", sampling.max_new_tokens, 1, 1 << 20);
    sampling.temperature = number(a, "--temperature", sampling.temperature);
    sampling.top_k = whole(a, "--top-k", sampling.top_k, 0, 1 << 24);
    sampling.top_p = number(a, "--top-p", sampling.top_p);
    sampling.repetition_penalty = number(a, "--repetition-penalty", sampling.repetition_penalty);
    sampling.presence_penalty = number(a, "--presence-penalty", sampling.presence_penalty);
    sampling.seed = static_cast<std::uint64_t>(whole(a, "--seed", 0, 0, 1ll << 53));
    return sampling;
}

int run_chat(const std::vector<std::string>& args) {
    const auto a = parse(args, {"--json"});
    const auto folder = a.get("--model");
    const auto prompt = a.get("--prompt");
    if (!folder || !prompt || !a.positional.empty()) return usage_error("chat: --model DIR and --prompt TEXT are required");
    // Options are checked before the (slow) load, so that a typo fails at once.
    const auto options = engine_options(a);
    const std::vector<std::string> sampling_options{"--max-tokens", "--temperature", "--top-k", "--top-p",
                                                    "--repetition-penalty", "--presence-penalty", "--seed"};
    for (const auto& name : sampling_options) (void)number(a, name, 0);
    deepstack::Message message{deepstack::Message::Role::user, *prompt, {}};
    for (const auto& file : a.all("--image")) message.images.push_back(deepstack::load_image(file));

    const auto model = open_model(a, *folder, options);
    const auto sampling = sampling_from(a, model->default_sampling());

    // Ctrl+C stops the answer at the next token instead of killing the process.
    std::signal(SIGINT, [](int) { g_interrupted = true; });
    const bool json = a.flag("--json");
    auto conversation = model->start_conversation(a.get("--system").value_or(""));
    const auto result = conversation->send(message, sampling,
                                           {[&](std::string_view text) {
                                               if (!json) std::cout << text << std::flush;
                                           },
                                           {}},
                                           &g_interrupted);
    if (!json) {
        std::cout << "\n";
        if (result.stop == deepstack::StopReason::cancelled) std::cerr << "(stopped)\n";
        if (result.stop == deepstack::StopReason::interrupted) std::cerr << "(the server stopped answering; the answer so far is above)\n";
        return 0;
    }
    nlohmann::ordered_json j;
    j["text"] = result.text;
    j["tokens"] = result.tokens;
    j["stop"] = std::string(deepstack::to_string(result.stop));
    j["prompt_tokens"] = result.prompt_tokens;
    j["image_tokens"] = result.image_tokens;
    j["vision_reused"] = result.vision_reused;
    j["timings_ms"] = {{"vision", result.vision_ms}, {"prefill", result.prefill_ms},
                       {"time_to_first_token", result.time_to_first_token_ms}, {"decode", result.decode_ms}};
    j["prefill_tokens_per_s"] = result.prefill_tokens_per_s();
    j["decode_tokens_per_s"] = result.decode_tokens_per_s();
    j["peak_rss_bytes"] = deepstack::peak_rss_bytes();
    j["model"] = {{"family", model->info().family}, {"device", model->info().device}, {"compute", model->info().compute},
                  {"max_image_pixels", model->info().max_image_pixels}};
    std::cout << j.dump(2) << "\n";
    return 0;
}

// "all", or a comma list of numbers and ranges ("0,3,5-7") within [0, count).
std::vector<std::int64_t> index_list(const std::string& spec, std::int64_t count, const std::string& option) {
    std::vector<std::int64_t> out;
    if (spec == "all") {
        for (std::int64_t i = 0; i < count; ++i) out.push_back(i);
        return out;
    }
    std::size_t begin = 0;
    while (begin <= spec.size()) {
        const auto end = std::min(spec.find(',', begin), spec.size());
        const auto part = spec.substr(begin, end - begin);
        long long first = 0, last = 0;
        char tail = 0;
        if (std::sscanf(part.c_str(), "%lld-%lld%c", &first, &last, &tail) == 2) {
        } else if (std::sscanf(part.c_str(), "%lld%c", &first, &tail) == 1) {
            last = first;
        } else {
            throw std::invalid_argument(option + ": '" + part + "' is not a number or a range like 2-5");
        }
        if (first < 0 || last < first || last >= count)
            throw std::invalid_argument(option + ": " + part + " is outside 0 .. " + std::to_string(count - 1));
        for (auto i = first; i <= last; ++i) out.push_back(i);
        begin = end + 1;
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

deepstack::HeadChoice head_choice(const std::string& spec) {
    if (spec == "mean") return {deepstack::HeadChoice::Reduction::mean, 0};
    if (spec == "max") return {deepstack::HeadChoice::Reduction::max, 0};
    char* end = nullptr;
    const auto head = std::strtoll(spec.c_str(), &end, 10);
    if (spec.empty() || *end != '\0' || head < 0) throw std::invalid_argument("--head: mean, max or a head number, not '" + spec + "'");
    return {deepstack::HeadChoice::Reduction::single, head};
}

void write_text(const std::filesystem::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::binary);
    out << text;
    if (!out) throw deepstack::Error(deepstack::ErrorKind::io, file.string(), "cannot write this file");
}

int run_attention(const std::vector<std::string>& args) {
    const auto a = parse(args, {});
    const auto folder = a.get("--model");
    const auto prompt = a.get("--prompt");
    const auto out_dir = a.get("--out");
    const auto images = a.all("--image");
    if (!folder || !prompt || !out_dir || images.empty() || !a.positional.empty())
        return usage_error("attention: --model DIR, --image FILE, --prompt TEXT and --out DIR are required");
    const auto options = engine_options(a);
    const auto heads = head_choice(a.get("--head").value_or("mean"));
    const auto opacity = number(a, "--opacity", 0.65);
    if (opacity < 0 || opacity > 1) return usage_error("--opacity: between 0 and 1");
    const auto cap_mb = whole(a, "--cap-mb", 512, 1, 1 << 20);
    const auto token_spec = a.get("--tokens").value_or("answer");
    deepstack::Message message{deepstack::Message::Role::user, *prompt, {}};
    for (const auto& file : images) message.images.push_back(deepstack::load_image(file));
    std::filesystem::create_directories(*out_dir);

    const auto model = deepstack::Model::load(model_path(a, *folder), options);  // attention needs the model here
    auto sampling = model->default_sampling();
    sampling.max_new_tokens = whole(a, "--max-tokens", std::min<std::int64_t>(sampling.max_new_tokens, 64), 1, 1 << 20);
    sampling.temperature = number(a, "--temperature", sampling.temperature);
    sampling.seed = static_cast<std::uint64_t>(whole(a, "--seed", 0, 0, 1ll << 53));
    std::signal(SIGINT, [](int) { g_interrupted = true; });
    auto conversation = model->start_conversation(a.get("--system").value_or(""));
    const auto result = conversation->send(message, sampling, {}, &g_interrupted);
    std::cout << "answer: " << result.text << "\n";

    deepstack::AttentionRequest request;
    request.memory_cap_bytes = static_cast<std::uint64_t>(cap_mb) << 20;
    const auto language_layers = [&] {
        const auto plan = model->stack_plan(message.images[0].width, message.images[0].height);
        return plan.language_layers;
    }();
    if (const auto layers = a.get("--layers")) request.layers = index_list(*layers, language_layers, "--layers");
    const auto capture = conversation->capture_attention(request, &g_interrupted);
    if (heads.reduction == deepstack::HeadChoice::Reduction::single && heads.head >= capture.heads)
        return usage_error("--head: this model has heads 0 .. " + std::to_string(capture.heads - 1));

    std::vector<std::size_t> chosen;
    const auto answers = capture.queries_of(deepstack::AttentionQuery::Kind::answer);
    if (token_spec == "answer") chosen = answers;
    else if (token_spec == "question") chosen = capture.queries_of(deepstack::AttentionQuery::Kind::question);
    else if (token_spec == "all") chosen = capture.all_queries();
    else
        for (const auto i : index_list(token_spec, static_cast<std::int64_t>(answers.size()), "--tokens")) chosen.push_back(answers[static_cast<std::size_t>(i)]);
    if (chosen.empty()) throw deepstack::Error(deepstack::ErrorKind::config, "", "no tokens to show: the answer is empty");

    const std::filesystem::path out(*out_dir);
    std::vector<std::string> written;
    std::vector<std::size_t> layer_indexes;
    std::cout << "layer  image share  stacked group entering\n";
    for (std::size_t li = 0; li < capture.layers.size(); ++li) {
        layer_indexes.push_back(li);
        const auto layer = capture.layers[li];
        const auto values = capture.map(chosen, li, heads);
        const auto [image_share, rest] = capture.shares(chosen, li, heads);
        std::string entering;
        for (std::size_t im = 0; im < capture.images.size(); ++im) {
            const auto& image = capture.images[im];
            const std::span<const float> slice(values.data() + image.first_column, static_cast<std::size_t>(image.plan.input_tokens()));
            char name[64];
            const auto prefix = capture.images.size() > 1 ? "image-" + std::to_string(im + 1) + "-" : std::string();
            std::snprintf(name, sizeof name, "layer-%02lld", static_cast<long long>(layer));
            deepstack::HeatmapOptions style;
            style.opacity = opacity;
            deepstack::save_png(deepstack::render_heatmap(image, slice, style), out / (prefix + name + ".png"));
            written.push_back(prefix + name + ".png");
            for (std::size_t g = 0; g < image.plan.groups.size(); ++g) {
                const auto& group = image.plan.groups[g];
                if (group.tower != deepstack::Tower::language || !group.ever_added || group.first_layer_seeing_it() != layer) continue;
                style.group = static_cast<int>(g);
                const auto file = prefix + name + "-group-" + std::to_string(g + 1) + ".png";
                deepstack::save_png(deepstack::render_heatmap(image, slice, style), out / file);
                written.push_back(file);
                if (im == 0) entering = group.label + ": " + group.source;
            }
        }
        char line[64];
        std::snprintf(line, sizeof line, "%5lld  %10.1f %%  ", static_cast<long long>(layer), 100.0 * image_share);
        std::cout << line << entering << "\n";
    }
    write_text(out / "attention.json", deepstack::attention_json(capture, chosen, layer_indexes));
    write_text(out / "attention.csv", deepstack::attention_csv(capture, chosen, layer_indexes));
    write_text(out / "stack-plan.json", deepstack::stack_plan_json(capture.images[0].plan));
    written.insert(written.end(), {"attention.json", "attention.csv", "stack-plan.json"});
    std::cout << "tokens shown:";
    for (const auto q : chosen) std::cout << " [" << capture.queries[q].text << "]";
    std::cout << "\nwrote " << written.size() << " files to " << out.string() << "\n";
    return 0;
}


// Answers the question about the pictures on a local model: what ablate and stack-map look into.
struct AnsweredQuestion {
    std::unique_ptr<deepstack::Model> model;
    std::unique_ptr<deepstack::Conversation> conversation;
    deepstack::SamplingSettings sampling;
    deepstack::GenerationResult result;
};

AnsweredQuestion answer_locally(const Arguments& a, const std::string& command) {
    const auto folder = a.get("--model");
    const auto prompt = a.get("--prompt");
    const auto images = a.all("--image");
    if (!folder || !prompt || images.empty() || !a.positional.empty())
        throw std::invalid_argument(command + ": --model DIR, --image FILE and --prompt TEXT are required");
    const auto options = engine_options(a);
    deepstack::Message message{deepstack::Message::Role::user, *prompt, {}};
    for (const auto& file : images) message.images.push_back(deepstack::load_image(file));
    AnsweredQuestion out;
    out.model = deepstack::Model::load(model_path(a, *folder), options);  // the stacks are looked into here
    out.sampling = sampling_from(a, out.model->default_sampling());
    std::signal(SIGINT, [](int) { g_interrupted = true; });
    out.conversation = out.model->start_conversation(a.get("--system").value_or(""));
    out.result = out.conversation->send(message, out.sampling, {}, &g_interrupted);
    if (out.result.stop == deepstack::StopReason::cancelled) throw deepstack::Error(deepstack::ErrorKind::cancelled, "", "stopped");
    return out;
}

// "all" or a comma list of group numbers as the stack plan numbers them (1 = the first to enter).
std::vector<int> group_list(const std::string& spec, int count) {
    std::vector<int> groups;
    if (spec == "all") {
        for (int g = 1; g <= count; ++g) groups.push_back(g);
        return groups;
    }
    for (const auto i : index_list(spec, count + 1, "--groups")) {
        if (i == 0) throw std::invalid_argument("--groups: groups are numbered from 1 (the first to enter) to " + std::to_string(count));
        groups.push_back(static_cast<int>(i));
    }
    return groups;
}

int run_ablate(const std::vector<std::string>& args) {
    const auto a = parse(args, {"--each"});
    auto answered = answer_locally(a, "ablate");
    const auto first = deepstack::load_image(a.all("--image").front());
    const auto plan = answered.model->stack_plan(first.width, first.height);
    const auto groups = group_list(a.get("--groups").value_or("all"), static_cast<int>(plan.groups.size()));
    deepstack::AblationRequest request;
    request.groups = groups;
    const auto ablation = answered.conversation->ablate(request, answered.sampling, &g_interrupted);
    auto out = nlohmann::ordered_json::parse(deepstack::ablation_json(ablation));
    out["model"] = {{"family", answered.model->info().family}, {"variant", plan.variant}, {"folder", answered.model->info().folder.string()},
                    {"compute", answered.model->info().compute}};
    if (a.flag("--each")) {
        // The table of every group's effect: one ablation per group, each alone.
        nlohmann::ordered_json rows = nlohmann::ordered_json::array();
        for (int g = 1; g <= static_cast<int>(plan.groups.size()); ++g) {
            deepstack::AblationRequest one;
            one.groups = {g};
            const auto row = answered.conversation->ablate(one, answered.sampling, &g_interrupted);
            rows.push_back({{"group", g},
                            {"label", plan.groups[static_cast<std::size_t>(g - 1)].label},
                            {"layer", plan.groups[static_cast<std::size_t>(g - 1)].layer},
                            {"mean_logprob_change", row.mean_logprob_change()},
                            {"largest_logprob_drop", row.largest_logprob_drop()},
                            {"flipped_tokens", row.flipped_tokens()},
                            {"first_difference", row.first_difference()},
                            {"ablated_text", row.ablated_text},
                            {"ablated_tokens", row.ablated_tokens}});
        }
        out["each_group"] = rows;
    }
    const auto text = out.dump(1);
    if (const auto file = a.get("--out")) {
        write_text(*file, text + "\n");
        std::cerr << "answer:          " << ablation.text << "\nwithout groups:  " << ablation.ablated_text << "\nwrote " << *file << "\n";
    } else {
        std::cout << text << "\n";
    }
    return 0;
}

int run_stack_map(const std::vector<std::string>& args) {
    const auto a = parse(args, {});
    const auto out_dir = a.get("--out");
    if (!out_dir) return usage_error("stack-map: --out DIR is required");
    const auto opacity = number(a, "--opacity", 0.65);
    if (opacity < 0 || opacity > 1) return usage_error("--opacity: between 0 and 1");
    std::filesystem::create_directories(*out_dir);
    auto answered = answer_locally(a, "stack-map");
    std::cout << "answer: " << answered.result.text << "\n";
    const auto map = answered.conversation->measure_injections(&g_interrupted);
    const std::filesystem::path out(*out_dir);
    std::vector<std::string> written;
    std::cout << "group  enters                  mean |added|/|hidden|  mean change at the top\n";
    for (const auto& group : map.groups) {
        for (std::size_t im = 0; im < map.images.size(); ++im) {
            const auto& image = map.images[im];
            const auto tokens = static_cast<std::size_t>(image.plan.input_tokens());
            const auto prefix = "group-" + std::to_string(group.group) + (map.images.size() > 1 ? "-image-" + std::to_string(im + 1) : std::string());
            deepstack::HeatmapOptions style;
            style.opacity = opacity;
            // The change where the group joins is drawn over the tokens it joins (for DeepStack-V the tower's
            // patch tokens, which share the language model's input grid); the change at the top over the input.
            if (group.relative_change.size() >= image.first_column + tokens) {
                const std::span<const float> joined(group.relative_change.data() + image.first_column, tokens);
                deepstack::save_png(deepstack::render_heatmap(image, joined, style), out / (prefix + "-joins.png"));
                written.push_back(prefix + "-joins.png");
            }
            if (group.change_at_top.size() >= image.first_column + tokens) {
                const std::span<const float> top(group.change_at_top.data() + image.first_column, tokens);
                deepstack::save_png(deepstack::render_heatmap(image, top, style), out / (prefix + "-top.png"));
                written.push_back(prefix + "-top.png");
            }
        }
        char line[160];
        std::snprintf(line, sizeof line, "%5d  %s layer %-3lld %-8s  %22.4f  %22.4f", group.group,
                      group.before_layer ? "before" : "after ", static_cast<long long>(group.layer),
                      group.tower == deepstack::Tower::vision ? "(vision)" : "", group.mean_relative_change(), group.mean_change_at_top());
        std::cout << line << "\n";
    }
    write_text(out / "stack-map.json", deepstack::injection_map_json(map));
    written.push_back("stack-map.json");
    std::cout << "wrote " << written.size() << " files to " << out.string() << "\n";
    return 0;
}

int run_synth(const std::vector<std::string>& args) {
    const auto a = parse(args, {});
    const auto out_dir = a.get("--out");
    if (!out_dir || !a.positional.empty()) return usage_error("synth: --out DIR is required");
    const auto split_name = a.get("--split").value_or("train");
    if (split_name != "train" && split_name != "held-out") return usage_error("synth: --split train or held-out");
    const auto split = split_name == "train" ? deepstack::SyntheticSplit::train : deepstack::SyntheticSplit::held_out;
    const auto from = whole(a, "--from", 0, 0, 1ll << 48);
    const auto count = whole(a, "--count", 12, 1, 1 << 24);
    deepstack::SyntheticOptions options;
    options.page_size = static_cast<int>(whole(a, "--size", options.page_size, 64, 4096));
    options.field_text_height = text_height_option(a);
    const std::filesystem::path out(*out_dir);
    std::filesystem::create_directories(out);
    std::ofstream questions(out / "questions.jsonl", std::ios::binary), readings(out / "reading.jsonl", std::ios::binary);
    for (auto i = from; i < from + count; ++i) {
        const auto page = deepstack::synthetic_page(split, static_cast<std::uint64_t>(i), options);
        char name[48];
        std::snprintf(name, sizeof name, "%s-%06lld.png", split_name.c_str(), static_cast<long long>(i));
        deepstack::save_png(page.image, out / name);
        for (const auto& q : page.questions) {
            nlohmann::ordered_json line{{"image", name}, {"layout", page.layout}, {"kind", q.kind}, {"small_print", q.small_print},
                                        {"question", q.question}, {"answer", q.answer}};
            if (!q.region.empty()) line["region"] = {q.region.left, q.region.top, q.region.right, q.region.bottom};
            questions << line.dump() << "\n";
        }
        readings << nlohmann::ordered_json{{"image", name}, {"layout", page.layout}, {"question", page.reading.question}, {"answer", page.reading.answer}}.dump() << "\n";
    }
    if (!questions) throw deepstack::Error(deepstack::ErrorKind::io, (out / "questions.jsonl").string(), "cannot write this file");
    if (!readings) throw deepstack::Error(deepstack::ErrorKind::io, (out / "reading.jsonl").string(), "cannot write this file");
    std::cout << "wrote " << count << " pages to " << out.string() << "\n";
    return 0;
}

int run_train(const std::vector<std::string>& args) {
    const auto a = parse(args, {"--no-stacks", "--reading-turn", "--model-bf16"});
    const auto base = a.get("--base");
    const auto out = a.get("--out");
    if (!base || !out || !a.positional.empty()) return usage_error("train: --base DIR and --out DIR are required");
    deepstack::TrainingOptions o;
    o.base = *base;
    o.output = *out;
    o.stacked = !a.flag("--no-stacks");
    o.steps = whole(a, "--steps", o.steps, 1, 1 << 30);
    o.batch = whole(a, "--batch", o.batch, 1, 1 << 16);
    o.questions_per_page = whole(a, "--questions-per-page", o.questions_per_page, 1, 64);
    o.distinct_pages = whole(a, "--distinct-pages", 0, 0, 1ll << 40);
    o.reading_turn = a.flag("--reading-turn");
    o.model_bf16 = a.flag("--model-bf16");
    o.device = device_option(a);
    o.warmup_steps = whole(a, "--warmup", o.warmup_steps, 0, 1 << 30);
    o.checkpoint_every = whole(a, "--checkpoint-every", o.checkpoint_every, 1, 1 << 30);
    o.stop_after = whole(a, "--stop-after", 0, 0, 1 << 30);
    o.learning_rate = number(a, "--lr", o.learning_rate);
    o.seed = static_cast<std::uint64_t>(whole(a, "--seed", 1, 0, 1ll << 53));
    o.threads = static_cast<int>(whole(a, "--threads", 0, 0, 1024));
    o.page_workers = static_cast<int>(whole(a, "--page-workers", 0, 0, 1024));
    o.pages.page_size = static_cast<int>(whole(a, "--page-size", o.pages.page_size, 64, 4096));
    o.pages.field_text_height = text_height_option(a);
    o.glyph_loss = number(a, "--glyph-loss", 0.0);
    if (const auto from = a.get("--init-from")) o.init_from = *from;
    o.start_step = whole(a, "--start-step", 0, 0, 1 << 30);
    if (!(o.glyph_loss >= 0 && o.glyph_loss <= 100)) return usage_error("train: --glyph-loss: expected a weight from 0 to 100");
    o.ema = number(a, "--ema", 0.0);
    if (!(o.ema >= 0 && o.ema < 1)) return usage_error("train: --ema: expected a decay from 0 (off) to below 1, such as 0.999");
    const auto log_every = whole(a, "--log-every", 10, 1, 1 << 30);
    // Ctrl+C, and the SIGTERM of a shutdown or `kill`, end the step under way and write a checkpoint.
    std::signal(SIGINT, [](int) { g_interrupted = true; });
    std::signal(SIGTERM, [](int) { g_interrupted = true; });
    o.cancel = &g_interrupted;
    double loss_sum = 0, glyph_sum = 0, glyph_accuracy_sum = 0, rate_sum = 0, small_print_sum = 0;
    std::int64_t small_print_steps = 0;
    std::int64_t logged = 0;
    o.on_progress = [&](const deepstack::TrainingProgress& p) {
        loss_sum += p.loss;
        glyph_sum += p.glyph_loss;
        glyph_accuracy_sum += p.glyph_accuracy;
        rate_sum += p.pages_per_s;
        if (p.small_print_loss > 0) {
            small_print_sum += p.small_print_loss;
            ++small_print_steps;
        }
        if (++logged < log_every && p.step != p.steps) return;
        char line[200];
        const auto n = static_cast<double>(logged);
        int length = std::snprintf(line, sizeof line, "step %lld/%lld  loss %.4f  small print %.4f", static_cast<long long>(p.step),
                                   static_cast<long long>(p.steps), loss_sum / n,
                                   small_print_steps > 0 ? small_print_sum / static_cast<double>(small_print_steps) : 0.0);
        if (o.glyph_loss > 0)
            length += std::snprintf(line + length, sizeof line - static_cast<std::size_t>(length), "  glyph %.4f (%.1f %% of characters named)",
                                    glyph_sum / n, 100 * glyph_accuracy_sum / n);
        std::snprintf(line + length, sizeof line - static_cast<std::size_t>(length), "  lr %.2e  grad %.3f  %.2f pages/s", p.learning_rate,
                      p.gradient_norm, rate_sum / n);
        std::cerr << line << std::endl;
        loss_sum = glyph_sum = glyph_accuracy_sum = rate_sum = small_print_sum = 0;
        logged = small_print_steps = 0;
    };
    const auto result = deepstack::train(o);
    std::cout << (result.finished ? "finished: " + result.model.string() : "checkpointed at step " + std::to_string(result.step) + " of " + std::to_string(o.steps))
              << "\n";
    return 0;
}

int run_evaluate(const std::vector<std::string>& args) {
    const auto a = parse(args, {"--field-attention", "--reading"});
    const auto model = a.get("--model");
    if (!model || !a.positional.empty()) return usage_error("evaluate: --model DIR is required");
    deepstack::EvaluationOptions o;
    o.first_page = static_cast<std::uint64_t>(whole(a, "--from", 0, 0, 1ll << 53));
    o.pages = whole(a, "--pages", o.pages, 1, 1 << 24);
    o.page_options.page_size = static_cast<int>(whole(a, "--page-size", o.page_options.page_size, 64, 4096));
    o.page_options.field_text_height = text_height_option(a);
    o.threads = static_cast<int>(whole(a, "--threads", 0, 0, 1024));
    o.page_workers = static_cast<int>(whole(a, "--page-workers", 1, 1, 1024));
    o.field_attention = a.flag("--field-attention");
    o.reading = a.flag("--reading");
    o.device = device_option(a);
    std::cout << deepstack::to_json(deepstack::evaluate(*model, o)) << "\n";
    return 0;
}

int run_bench(const std::vector<std::string>& args) {
    const auto a = parse(args, {"--stop-latency"});
    deepstack::BenchOptions o;
    if (const auto m = a.get("--model")) o.model = model_path(a, *m);
    o.random_preset = a.get("--random").value_or("");
    if (o.model.empty() == o.random_preset.empty()) return usage_error("bench: give either --model DIR or --random PRESET");
    o.engine = engine_options(a);
    if (const auto image = a.get("--image")) {
        if (*image == "none") o.image_width = o.image_height = 0;
        else if (std::sscanf(image->c_str(), "%dx%d", &o.image_width, &o.image_height) != 2)
            return usage_error("bench: --image WxH, for example 640x480 (or none)");
    }
    o.prompt_text_tokens = static_cast<int>(whole(a, "--prompt-tokens", o.prompt_text_tokens, 1, 1 << 20));
    o.new_tokens = static_cast<int>(whole(a, "--new-tokens", o.new_tokens, 1, 1 << 20));
    o.layers = static_cast<int>(whole(a, "--layers", 0, 0, 1024));
    o.repeat = static_cast<int>(whole(a, "--repeat", 1, 1, 100));
    o.stop_latency = a.flag("--stop-latency");
    std::cout << deepstack::run_bench(o) << "\n";
    return 0;
}

std::string megabytes(std::uint64_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(bytes) / 1e6);
    return text;
}

int run_pull(const std::vector<std::string>& args) {
    const auto a = parse(args, {});
    if (a.positional.size() != 1) return usage_error("pull: give one repository id, such as Qwen/Qwen3-VL-2B-Instruct");
    auto settings = deepstack::hub_settings_from_environment();
    if (const auto token = a.get("--token")) settings.token = *token;
    std::signal(SIGINT, [](int) { g_interrupted = true; });
    // One line, rewritten in place: the file, its share, the whole, the speed and the time left.
    const auto progress = [last = std::chrono::steady_clock::time_point()](const deepstack::HubProgress& p) mutable {
        const auto now = std::chrono::steady_clock::now();
        if (now - last < std::chrono::milliseconds(200) && p.file_done != p.file_size) return;
        last = now;
        const double left_s = p.bytes_per_s > 0 ? static_cast<double>(p.total - p.done) / p.bytes_per_s : 0;
        char line[256];
        std::snprintf(line, sizeof line, "\r[%zu/%zu] %-40.40s %s of %s  %.1f MB/s  %.0f s left   ", p.files_done + 1 > p.files ? p.files : p.files_done + 1,
                      p.files, p.file.c_str(), megabytes(p.done).c_str(), megabytes(p.total).c_str(), p.bytes_per_s / 1e6, left_s);
        std::cerr << line << std::flush;
    };
    const auto snapshot = deepstack::hub_download(settings, a.positional.front(), a.get("--revision").value_or("main"), a.all("--include"),
                                                  progress, &g_interrupted);
    std::cerr << "\n";
    std::cout << snapshot.string() << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    deepstack::choose_blas_kernels(argv);  // may start the program again, before anything has run
    if (argc < 2) return usage_error("no command given");
    const std::string command = argv[1];
    const std::vector<std::string> args(argv + 2, argv + argc);
    try {
        if (command == "inspect") return run_inspect(args);
        if (command == "tokenize") return run_tokenize(args);
        if (command == "chat") return run_chat(args);
        if (command == "bench") return run_bench(args);
        if (command == "attention") return run_attention(args);
        if (command == "ablate") return run_ablate(args);
        if (command == "stack-map") return run_stack_map(args);
        if (command == "synth") return run_synth(args);
        if (command == "train") return run_train(args);
        if (command == "evaluate") return run_evaluate(args);
        if (command == "pull") return run_pull(args);
        if (command == "help" || command == "--help" || command == "-h") {
            std::cout << kUsage;
            return 0;
        }
        return usage_error("unknown command '" + command + "'");
    } catch (const std::invalid_argument& e) {
        return usage_error(e.what());
    } catch (const deepstack::Error& e) {
        std::cerr << "deepstack-cli: " << deepstack::to_string(e.kind()) << ": " << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {  // a folder that cannot be created, LibTorch during training
        std::cerr << "deepstack-cli: error: " << e.what() << "\n";
        return 1;
    }
}

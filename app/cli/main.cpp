// deepstack-cli: the headless entry point. The commands live in commands.h's files, each a thin layer over the core.
#include <functional>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands.h"
#include "deepstack/error.h"
#include "deepstack/system.h"

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
    "                         prints tokens, timings and peak memory at the end instead; FILE#N is page N of\n"
    "                         a multi-page TIFF\n"
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

}  // namespace

int main(int argc, char** argv) {
    deepstack::choose_blas_kernels(argv);  // may start the program again, before anything has run
    if (argc < 2) return usage_error("no command given");
    const std::string command = argv[1];
    const std::vector<std::string> args(argv + 2, argv + argc);
    namespace cli = deepstack::cli;
    const std::map<std::string, std::function<int(const std::vector<std::string>&)>> commands{
        {"inspect", cli::run_inspect}, {"pull", cli::run_pull},           {"tokenize", cli::run_tokenize},
        {"chat", cli::run_chat},       {"bench", cli::run_bench},         {"attention", cli::run_attention},
        {"ablate", cli::run_ablate},   {"stack-map", cli::run_stack_map}, {"synth", cli::run_synth},
        {"train", cli::run_train},     {"evaluate", cli::run_evaluate}};
    try {
        if (command == "help" || command == "--help" || command == "-h") {
            std::cout << kUsage;
            return 0;
        }
        const auto found = commands.find(command);
        if (found == commands.end()) return usage_error("unknown command '" + command + "'");
        return found->second(args);
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
// synth, train and evaluate: the demo model's synthetic pages, its training and its held-out accuracy.
#include "commands.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "deepstack/error.h"
#include "deepstack/image.h"
#include "deepstack/synthetic.h"
#include "deepstack/training.h"

#include "arguments.h"

namespace deepstack::cli {

int run_synth(const std::vector<std::string>& args) {
    const auto a = parse(args, {});
    const auto out_dir = a.get("--out");
    if (!out_dir || !a.positional.empty()) throw std::invalid_argument("synth: --out DIR is required");
    const auto split_name = a.get("--split").value_or("train");
    if (split_name != "train" && split_name != "held-out")
        throw std::invalid_argument("synth: --split train or held-out");
    const auto split = split_name == "train" ? SyntheticSplit::train : SyntheticSplit::held_out;
    const auto from = whole(a, "--from", 0, 0, 1ll << 48);
    const auto count = whole(a, "--count", 12, 1, 1 << 24);
    SyntheticOptions options;
    options.page_size = static_cast<int>(whole(a, "--size", options.page_size, 64, 4096));
    options.field_text_height = text_height_option(a);
    const std::filesystem::path out(*out_dir);
    std::filesystem::create_directories(out);
    std::ofstream questions(out / "questions.jsonl", std::ios::binary),
        readings(out / "reading.jsonl", std::ios::binary);
    for (auto i = from; i < from + count; ++i) {
        const auto page = synthetic_page(split, static_cast<std::uint64_t>(i), options);
        char name[48];
        std::snprintf(name, sizeof name, "%s-%06lld.png", split_name.c_str(), static_cast<long long>(i));
        save_png(page.image, out / name);
        for (const auto& q : page.questions) {
            nlohmann::ordered_json line{{"image", name},          {"layout", page.layout},
                                        {"kind", q.kind},         {"small_print", q.small_print},
                                        {"question", q.question}, {"answer", q.answer}};
            if (!q.region.empty()) line["region"] = {q.region.left, q.region.top, q.region.right, q.region.bottom};
            questions << line.dump() << "\n";
        }
        readings << nlohmann::ordered_json{{"image", name},
                                           {"layout", page.layout},
                                           {"question", page.reading.question},
                                           {"answer", page.reading.answer}}
                        .dump()
                 << "\n";
    }
    if (!questions) throw Error(ErrorKind::io, (out / "questions.jsonl").string(), "cannot write this file");
    if (!readings) throw Error(ErrorKind::io, (out / "reading.jsonl").string(), "cannot write this file");
    std::cout << "wrote " << count << " pages to " << out.string() << "\n";
    return 0;
}

int run_train(const std::vector<std::string>& args) {
    const auto a = parse(args, {"--no-stacks", "--reading-turn", "--model-bf16"});
    const auto base = a.get("--base");
    const auto out = a.get("--out");
    if (!base || !out || !a.positional.empty())
        throw std::invalid_argument("train: --base DIR and --out DIR are required");
    TrainingOptions o;
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
    if (!(o.glyph_loss >= 0 && o.glyph_loss <= 100))
        throw std::invalid_argument("train: --glyph-loss: expected a weight from 0 to 100");
    o.ema = number(a, "--ema", 0.0);
    if (!(o.ema >= 0 && o.ema < 1))
        throw std::invalid_argument("train: --ema: expected a decay from 0 (off) to below 1, such as 0.999");
    const auto log_every = whole(a, "--log-every", 10, 1, 1 << 30);
    // Ctrl+C, and the SIGTERM of a shutdown or `kill`, end the step under way and write a checkpoint.
    stop_on_interrupt();
    stop_on_termination();
    o.cancel = &interrupted;
    double loss_sum = 0, glyph_sum = 0, glyph_accuracy_sum = 0, rate_sum = 0, small_print_sum = 0;
    std::int64_t small_print_steps = 0;
    std::int64_t logged = 0;
    o.on_progress = [&](const TrainingProgress& p) {
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
        int length =
            std::snprintf(line, sizeof line, "step %lld/%lld  loss %.4f  small print %.4f",
                          static_cast<long long>(p.step), static_cast<long long>(p.steps), loss_sum / n,
                          small_print_steps > 0 ? small_print_sum / static_cast<double>(small_print_steps) : 0.0);
        if (o.glyph_loss > 0)
            length += std::snprintf(line + length, sizeof line - static_cast<std::size_t>(length),
                                    "  glyph %.4f (%.1f %% of characters named)", glyph_sum / n,
                                    100 * glyph_accuracy_sum / n);
        std::snprintf(line + length, sizeof line - static_cast<std::size_t>(length),
                      "  lr %.2e  grad %.3f  %.2f pages/s", p.learning_rate, p.gradient_norm, rate_sum / n);
        std::cerr << line << std::endl;
        loss_sum = glyph_sum = glyph_accuracy_sum = rate_sum = small_print_sum = 0;
        logged = small_print_steps = 0;
    };
    const auto result = train(o);
    std::cout << (result.finished
                      ? "finished: " + result.model.string()
                      : "checkpointed at step " + std::to_string(result.step) + " of " + std::to_string(o.steps))
              << "\n";
    return 0;
}

int run_evaluate(const std::vector<std::string>& args) {
    const auto a = parse(args, {"--field-attention", "--reading"});
    const auto model = a.get("--model");
    if (!model || !a.positional.empty()) throw std::invalid_argument("evaluate: --model DIR is required");
    EvaluationOptions o;
    o.first_page = static_cast<std::uint64_t>(whole(a, "--from", 0, 0, 1ll << 53));
    o.pages = whole(a, "--pages", o.pages, 1, 1 << 24);
    o.page_options.page_size = static_cast<int>(whole(a, "--page-size", o.page_options.page_size, 64, 4096));
    o.page_options.field_text_height = text_height_option(a);
    o.threads = static_cast<int>(whole(a, "--threads", 0, 0, 1024));
    o.page_workers = static_cast<int>(whole(a, "--page-workers", 1, 1, 1024));
    o.field_attention = a.flag("--field-attention");
    o.reading = a.flag("--reading");
    o.device = device_option(a);
    std::cout << to_json(evaluate(*model, o)) << "\n";
    return 0;
}

}  // namespace deepstack::cli

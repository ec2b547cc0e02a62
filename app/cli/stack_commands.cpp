// attention, ablate and stack-map: an answer, then where each layer looked and what each stacked group changes.
#include "commands.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <span>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "deepstack/attention.h"
#include "deepstack/engine.h"
#include "deepstack/error.h"
#include "deepstack/image.h"

#include "arguments.h"

namespace deepstack::cli {

namespace {

HeadChoice head_choice(const std::string& spec) {
    if (spec == "mean") return {HeadChoice::Reduction::mean, 0};
    if (spec == "max") return {HeadChoice::Reduction::max, 0};
    char* end = nullptr;
    const auto head = std::strtoll(spec.c_str(), &end, 10);
    if (spec.empty() || *end != '\0' || head < 0)
        throw std::invalid_argument("--head: mean, max or a head number, not '" + spec + "'");
    return {HeadChoice::Reduction::single, head};
}

// Answers the question about the pictures on a local model: what ablate and stack-map look into.
struct AnsweredQuestion {
    std::unique_ptr<Model> model;
    std::unique_ptr<Conversation> conversation;
    SamplingSettings sampling;
    GenerationResult result;
};

AnsweredQuestion answer_locally(const Arguments& a, const std::string& command) {
    const auto folder = a.get("--model");
    const auto prompt = a.get("--prompt");
    const auto images = a.all("--image");
    if (!folder || !prompt || images.empty() || !a.positional.empty())
        throw std::invalid_argument(command + ": --model DIR, --image FILE and --prompt TEXT are required");
    const auto options = engine_options(a);
    Message message{Message::Role::user, *prompt, {}};
    for (const auto& file : images) message.images.push_back(load_picture(file));
    AnsweredQuestion out;
    out.model = Model::load(model_path(a, *folder), options);  // the stacks are looked into here
    out.sampling = sampling_from(a, out.model->default_sampling());
    stop_on_interrupt();
    out.conversation = out.model->start_conversation(a.get("--system").value_or(""));
    out.result = out.conversation->send(message, out.sampling, {}, &interrupted);
    if (out.result.stop == StopReason::cancelled) throw Error(ErrorKind::cancelled, "", "stopped");
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
        if (i == 0)
            throw std::invalid_argument("--groups: groups are numbered from 1 (the first to enter) to " +
                                        std::to_string(count));
        groups.push_back(static_cast<int>(i));
    }
    return groups;
}

}  // namespace

int run_attention(const std::vector<std::string>& args) {
    const auto a = parse(args, {});
    const auto folder = a.get("--model");
    const auto prompt = a.get("--prompt");
    const auto out_dir = a.get("--out");
    const auto images = a.all("--image");
    if (!folder || !prompt || !out_dir || images.empty() || !a.positional.empty())
        throw std::invalid_argument("attention: --model DIR, --image FILE, --prompt TEXT and --out DIR are required");
    const auto options = engine_options(a);
    const auto heads = head_choice(a.get("--head").value_or("mean"));
    const auto opacity = number(a, "--opacity", 0.65);
    if (opacity < 0 || opacity > 1) throw std::invalid_argument("--opacity: between 0 and 1");
    const auto cap_mb = whole(a, "--cap-mb", 512, 1, 1 << 20);
    const auto token_spec = a.get("--tokens").value_or("answer");
    Message message{Message::Role::user, *prompt, {}};
    for (const auto& file : images) message.images.push_back(load_picture(file));
    std::filesystem::create_directories(*out_dir);

    const auto model = Model::load(model_path(a, *folder), options);  // attention needs the model here
    auto sampling = model->default_sampling();
    sampling.max_new_tokens = whole(a, "--max-tokens", std::min<std::int64_t>(sampling.max_new_tokens, 64), 1, 1 << 20);
    sampling.temperature = number(a, "--temperature", sampling.temperature);
    sampling.seed = static_cast<std::uint64_t>(whole(a, "--seed", 0, 0, 1ll << 53));
    stop_on_interrupt();
    auto conversation = model->start_conversation(a.get("--system").value_or(""));
    const auto result = conversation->send(message, sampling, {}, &interrupted);
    std::cout << "answer: " << result.text << "\n";

    AttentionRequest request;
    request.memory_cap_bytes = static_cast<std::uint64_t>(cap_mb) << 20;
    const auto language_layers = [&] {
        const auto plan = model->stack_plan(message.images[0].width, message.images[0].height);
        return plan.language_layers;
    }();
    if (const auto layers = a.get("--layers")) request.layers = index_list(*layers, language_layers, "--layers");
    const auto capture = conversation->capture_attention(request, &interrupted);
    if (heads.reduction == HeadChoice::Reduction::single && heads.head >= capture.heads)
        throw std::invalid_argument("--head: this model has heads 0 .. " + std::to_string(capture.heads - 1));

    std::vector<std::size_t> chosen;
    const auto answers = capture.queries_of(AttentionQuery::Kind::answer);
    if (token_spec == "answer")
        chosen = answers;
    else if (token_spec == "question")
        chosen = capture.queries_of(AttentionQuery::Kind::question);
    else if (token_spec == "all")
        chosen = capture.all_queries();
    else
        for (const auto i : index_list(token_spec, static_cast<std::int64_t>(answers.size()), "--tokens"))
            chosen.push_back(answers[static_cast<std::size_t>(i)]);
    if (chosen.empty()) throw Error(ErrorKind::config, "", "no tokens to show: the answer is empty");

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
            const std::span<const float> slice(values.data() + image.first_column,
                                               static_cast<std::size_t>(image.plan.input_tokens()));
            char name[64];
            const auto prefix = capture.images.size() > 1 ? "image-" + std::to_string(im + 1) + "-" : std::string();
            std::snprintf(name, sizeof name, "layer-%02lld", static_cast<long long>(layer));
            HeatmapOptions style;
            style.opacity = opacity;
            save_png(render_heatmap(image, slice, style), out / (prefix + name + ".png"));
            written.push_back(prefix + name + ".png");
            for (std::size_t g = 0; g < image.plan.groups.size(); ++g) {
                const auto& group = image.plan.groups[g];
                if (group.tower != Tower::language || !group.ever_added || group.first_layer_seeing_it() != layer)
                    continue;
                style.group = static_cast<int>(g);
                const auto file = prefix + name + "-group-" + std::to_string(g + 1) + ".png";
                save_png(render_heatmap(image, slice, style), out / file);
                written.push_back(file);
                if (im == 0) entering = group.label + ": " + group.source;
            }
        }
        char line[64];
        std::snprintf(line, sizeof line, "%5lld  %10.1f %%  ", static_cast<long long>(layer), 100.0 * image_share);
        std::cout << line << entering << "\n";
    }
    write_text(out / "attention.json", attention_json(capture, chosen, layer_indexes));
    write_text(out / "attention.csv", attention_csv(capture, chosen, layer_indexes));
    write_text(out / "stack-plan.json", stack_plan_json(capture.images[0].plan));
    written.insert(written.end(), {"attention.json", "attention.csv", "stack-plan.json"});
    std::cout << "tokens shown:";
    for (const auto q : chosen) std::cout << " [" << capture.queries[q].text << "]";
    std::cout << "\nwrote " << written.size() << " files to " << out.string() << "\n";
    return 0;
}

int run_ablate(const std::vector<std::string>& args) {
    const auto a = parse(args, {"--each"});
    auto answered = answer_locally(a, "ablate");
    const auto first = load_picture(a.all("--image").front());
    const auto plan = answered.model->stack_plan(first.width, first.height);
    const auto groups = group_list(a.get("--groups").value_or("all"), static_cast<int>(plan.groups.size()));
    AblationRequest request;
    request.groups = groups;
    const auto ablation = answered.conversation->ablate(request, answered.sampling, &interrupted);
    auto out = nlohmann::ordered_json::parse(ablation_json(ablation));
    out["model"] = {{"family", answered.model->info().family},
                    {"variant", plan.variant},
                    {"folder", answered.model->info().folder.string()},
                    {"compute", answered.model->info().compute}};
    if (a.flag("--each")) {
        // The table of every group's effect: one ablation per group, each alone.
        nlohmann::ordered_json rows = nlohmann::ordered_json::array();
        for (int g = 1; g <= static_cast<int>(plan.groups.size()); ++g) {
            AblationRequest one;
            one.groups = {g};
            const auto row = answered.conversation->ablate(one, answered.sampling, &interrupted);
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
        std::cerr << "answer:          " << ablation.text << "\nwithout groups:  " << ablation.ablated_text
                  << "\nwrote " << *file << "\n";
    } else {
        std::cout << text << "\n";
    }
    return 0;
}

int run_stack_map(const std::vector<std::string>& args) {
    const auto a = parse(args, {});
    const auto out_dir = a.get("--out");
    if (!out_dir) throw std::invalid_argument("stack-map: --out DIR is required");
    const auto opacity = number(a, "--opacity", 0.65);
    if (opacity < 0 || opacity > 1) throw std::invalid_argument("--opacity: between 0 and 1");
    std::filesystem::create_directories(*out_dir);
    auto answered = answer_locally(a, "stack-map");
    std::cout << "answer: " << answered.result.text << "\n";
    const auto map = answered.conversation->measure_injections(&interrupted);
    const std::filesystem::path out(*out_dir);
    std::vector<std::string> written;
    std::cout << "group  enters                  mean |added|/|hidden|  mean change at the top\n";
    for (const auto& group : map.groups) {
        for (std::size_t im = 0; im < map.images.size(); ++im) {
            const auto& image = map.images[im];
            const auto tokens = static_cast<std::size_t>(image.plan.input_tokens());
            const auto prefix = "group-" + std::to_string(group.group) +
                                (map.images.size() > 1 ? "-image-" + std::to_string(im + 1) : std::string());
            HeatmapOptions style;
            style.opacity = opacity;
            // The change where the group joins is drawn over the tokens it joins (for DeepStack-V the tower's
            // patch tokens, which share the language model's input grid); the change at the top over the input.
            if (group.relative_change.size() >= image.first_column + tokens) {
                const std::span<const float> joined(group.relative_change.data() + image.first_column, tokens);
                save_png(render_heatmap(image, joined, style), out / (prefix + "-joins.png"));
                written.push_back(prefix + "-joins.png");
            }
            if (group.change_at_top.size() >= image.first_column + tokens) {
                const std::span<const float> top(group.change_at_top.data() + image.first_column, tokens);
                save_png(render_heatmap(image, top, style), out / (prefix + "-top.png"));
                written.push_back(prefix + "-top.png");
            }
        }
        char line[160];
        std::snprintf(line, sizeof line, "%5d  %s layer %-3lld %-8s  %22.4f  %22.4f", group.group,
                      group.before_layer ? "before" : "after ", static_cast<long long>(group.layer),
                      group.tower == Tower::vision ? "(vision)" : "", group.mean_relative_change(),
                      group.mean_change_at_top());
        std::cout << line << "\n";
    }
    write_text(out / "stack-map.json", injection_map_json(map));
    written.push_back("stack-map.json");
    std::cout << "wrote " << written.size() << " files to " << out.string() << "\n";
    return 0;
}

}  // namespace deepstack::cli

// The training loop of the demo model. The model is deepstack_llama::Model, the very code inference runs, built
// with random weights that require gradients; one sample is one synthetic page and its questions as one
// conversation (and its reading turn as another), run through the same views, template and image splice as a
// chat, with the loss on the answers' tokens only.
#include "deepstack/training.h"
#include "training/glyphs.h"
#include "training/side_by_side.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>
#include <ATen/Parallel.h>
#include <torch/autograd.h>
#include <torch/cuda.h>
#include <torch/nn/functional/linear.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <torch/serialize.h>
#include <torch/types.h>

#include "config/checked_config.h"
#include "config/json_fields.h"
#include "io/durable.h"
#include "deepstack/error.h"
#include "deepstack/safetensors.h"
#include "deepstack/system.h"
#include "deepstack/tokenizer.h"
#include "models/deepstack_llama/architecture.h"
#include "models/deepstack_llama/model.h"
#include "models/deepstack_llama/processor.h"
#include "models/deepstack_llama/runtime.h"
#include "tensor/torch_bridge.h"

namespace deepstack {

namespace {

using deepstack_llama::Config;

// The base config, with the twin's flag when it has no stacks.
nlohmann::json model_config(const std::filesystem::path& base, bool stacked) {
    auto json = config::read_json_file(base / "config.json");
    if (json.value("model_type", "") != "deepstack_llama")
        throw Error(ErrorKind::config, (base / "config.json").string(), "the demo model trains the deepstack_llama (DeepStack-L) layout only");
    if (!stacked) {
        const auto flags = json.value("deepstack_args_for_ablation", std::string());
        if (flags.find("nostack") == std::string::npos) json["deepstack_args_for_ablation"] = flags.empty() ? "nostack" : flags + "+nostack";
    }
    return json;
}

void write_text_atomically(const std::filesystem::path& file, const std::string& text) { io::write_file_durably(file, text); }

// Every weight in a safetensors file under the checkpoint's names: fp32, or bf16 when `bf16` is set.
void save_weights(const std::vector<std::pair<std::string, torch::Tensor>>& weights, const std::filesystem::path& file, bool bf16) {
    std::vector<torch::Tensor> keep;
    std::vector<TensorToWrite> tensors;
    for (const auto& [name, tensor] : weights) {
        keep.push_back(tensor.detach().to(torch::kCPU, bf16 ? torch::kBFloat16 : torch::kFloat32).contiguous());
        const auto sizes = keep.back().sizes();
        tensors.push_back({name, bf16 ? DType::bf16 : DType::f32, Shape(sizes.begin(), sizes.end()),
                           {static_cast<const std::byte*>(keep.back().data_ptr()), static_cast<std::size_t>(keep.back().nbytes())}});
    }
    const auto temporary = file.string() + ".partial";
    write_safetensors(temporary, tensors);
    std::filesystem::rename(temporary, file);
}

// Weights a starting point may lack, which then keep their fresh values: the glyph head (inside a model folder's
// weights it never is) and the optional projector fields (a run started before they were turned on).
constexpr std::string_view kMayStartFresh[] = {"glyph_head.", "model.mm_projector_norm.", "model.deepstack_group_embedding"};

// The glyph head beside a model folder's weights: training-only (Model::load reads model.safetensors and never this),
// kept so that a stretch started from the folder (--init-from) continues the head instead of drawing it afresh,
// whose first hundred steps of large glyph gradients went back into a trained tower (the small-print loss of
// stretch 13 rose from 0.05 to 0.14 meanwhile).
constexpr const char* kGlyphHeadFile = "glyph_head.safetensors";
constexpr const char* kAverageFile = "average.safetensors";  // in a checkpoint, with --ema

// `fresh_allowed`: weights named so that the file lacks keep their values.
void load_weights(const std::vector<std::pair<std::string, torch::Tensor>>& weights, const std::filesystem::path& file,
                  bool fresh_allowed = false) {
    const auto checkpoint = SafetensorsFile::open(file);
    torch::NoGradGuard no_grad;
    for (const auto& [name, tensor] : weights) {
        const auto may_start_fresh = [&] {
            for (const auto prefix : kMayStartFresh)
                if (name.starts_with(prefix)) return true;
            return false;
        };
        if (fresh_allowed && !checkpoint.contains(name) && may_start_fresh()) continue;
        if (!checkpoint.contains(name))
            throw Error(ErrorKind::shape, file.string(), name, "expected " + shape_to_string(tensor.sizes().vec()) + ", not in this file");
        const auto stored = tensor::to_torch(checkpoint.view(name), torch::kFloat32);
        if (stored.sizes() != tensor.sizes())
            throw Error(ErrorKind::shape, file.string(), name,
                        "expected " + shape_to_string(tensor.sizes().vec()) + ", found " + shape_to_string(stored.sizes().vec()));
        tensor.copy_(stored);
    }
}

// Where --init-from's weights are: a run's checkpoint (glyph head included) or a model folder's weights (its glyph
// head, when it has one, beside them: kGlyphHeadFile).
std::filesystem::path starting_weights(const std::filesystem::path& source) {
    for (const auto& file : {source / "checkpoint" / "weights.safetensors", source / "model.safetensors"})
        if (std::filesystem::is_regular_file(file)) return file;
    throw Error(ErrorKind::io, source.string(), "no weights to start from: neither checkpoint/weights.safetensors (a run) nor model.safetensors (a model folder)");
}

// FNV-1a over the file's bytes: the same start wherever the file lies.
std::string fingerprint(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw Error(ErrorKind::io, file.string(), "cannot read this file");
    std::uint64_t hash = 0xcbf29ce484222325ull;
    std::vector<char> buffer(1 << 20);
    while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0) {
        for (std::streamsize i = 0; i < in.gcount(); ++i) hash = (hash ^ static_cast<unsigned char>(buffer[static_cast<std::size_t>(i)])) * 0x100000001b3ull;
        if (in.eof()) break;
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
    return hex;
}

// A page's questions as one conversation: the image with the first question, then each further question as a
// follow-up turn, exactly as the chat renders them. The loss is on every answer, so the page's encoding pays for
// all its questions instead of one. With the reading turn, the same picture also opens a second conversation
// whose only question is the reading one.
struct Dialogue {
    std::vector<std::int64_t> ids;
    std::int64_t image_offset = 0;
    std::vector<std::int64_t> predicting;  // positions whose next token is an answer token (or the answer's </s>)
    std::vector<std::int64_t> targets;     // those next tokens
    std::vector<std::int64_t> small_print;  // indexes into `targets` of the tokens of answers printed in the small text
};
struct Sample {
    deepstack_llama::ImageFeatures features;
    std::vector<Dialogue> dialogues;
    torch::Tensor crop_vision;    // [cells, P, Dv] the crops' CLIP features (with the glyph loss only)
    torch::Tensor glyph_targets;  // [cells, P, slots]
};

// What one page adds to a step: its loss, divided by the batch so that the pages' gradients sum to the step's,
// and the figures the log reports.
struct PageLoss {
    torch::Tensor scaled;  // (the answers' mean loss + the glyph loss's share) / batch
    double answers = 0, glyph = 0, small_print_sum = 0;
    std::int64_t glyphs_seen = 0, glyphs_named = 0, small_print_tokens = 0;
};

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// One training run: the model, its optimizer and the step it has reached. train() drives it; each phase is a
// method (the options checked, the weights made, a checkpoint resumed, a page made into samples, one step).
class Run {
public:
    explicit Run(const TrainingOptions& o)
        : o_(o), json_(model_config(o.base, o.stacked)), config_(parse_and_check(json_, o.base)), tokenizer_(Tokenizer::load(o.base)),
          clip_(deepstack_llama::clip_preprocessing({}, config_)), checkpoint_(o.output / "checkpoint") {
        const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
        at::set_num_threads(threads);
        torch::manual_seed(o.seed);
        if (o.device == DeviceKind::cuda && !torch::cuda::is_available())
            throw Error(ErrorKind::unsupported, "", "training on CUDA was asked for, but this LibTorch build or this machine has no CUDA device");
        device_ = o.device == DeviceKind::cuda ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
        if (o.page_workers < 0) throw Error(ErrorKind::config, "", "page workers are 0 (one per thread) or more, not " + std::to_string(o.page_workers));
        if (device_.is_cpu()) {
            const auto wanted = o.page_workers > 0 ? o.page_workers : threads;
            page_workers_ = static_cast<int>(std::clamp<std::int64_t>(wanted, 1, o.batch));
            threads_per_worker_ = std::max(1, threads / page_workers_);
        }
        model_ = deepstack_llama::Model::random(config_, {c10::kFloat, device_, {}}, o.seed);
        make_parameters();
        make_optimizer();
        resume();
        start_average();
    }

    std::int64_t step() const { return step_; }
    TrainingProgress train_step();
    void save_checkpoint();

private:
    static deepstack_llama::Config parse_and_check(const nlohmann::json& json, const std::filesystem::path& base);
    void make_parameters();
    void make_optimizer();
    void resume();
    void start_average();
    void update_average();
    void write_model_folder() const;
    std::vector<std::pair<std::string, torch::Tensor>> glyph_head_weights() const {
        return {{"glyph_head.weight", glyph_head_weight_}, {"glyph_head.bias", glyph_head_bias_}};
    }
    Sample make_sample(std::uint64_t index) const;
    PageLoss page_loss(std::uint64_t index) const;
    void accumulate_gradients(std::vector<PageLoss>& pages);
    Dialogue make_dialogue(const Sample& sample, const std::vector<const SyntheticQuestion*>& turns) const;
    double learning_rate_at(std::int64_t at) const;

    const TrainingOptions& o_;
    nlohmann::json json_;  // the model's config.json
    deepstack_llama::Config config_;
    std::unique_ptr<Tokenizer> tokenizer_;
    deepstack_llama::ClipPreprocessing clip_;
    std::filesystem::path checkpoint_;
    c10::Device device_{c10::kCPU};
    std::unique_ptr<deepstack_llama::Model> model_;
    // Matrices decay, vectors (norms, biases, the group embedding) do not; `parameters_` is both, for clipping.
    std::vector<torch::Tensor> matrices_, vectors_, parameters_;
    torch::Tensor glyph_head_weight_, glyph_head_bias_;  // with the glyph loss only
    NamedTensors checkpoint_weights_;                     // the model's and the glyph head's
    NamedTensors average_;                                // the model's weights' moving average (o_.ema > 0)
    std::unique_ptr<torch::optim::AdamW> optimizer_;
    nlohmann::json identity_;  // what a checkpoint must have been written with to be resumed
    std::int64_t step_ = 0;
    bool resumed_ = false;  // from this run's own checkpoint
    int page_workers_ = 1;        // pages computed side by side (CPU only)
    int threads_per_worker_ = 1;  // each worker's LibTorch threads
};

deepstack_llama::Config Run::parse_and_check(const nlohmann::json& json, const std::filesystem::path& base) {
    const auto file = (base / "config.json").string();
    auto config = config::parse_checked(config::Fields(json, file), deepstack_llama::parse_config, deepstack_llama::check_config);
    if (config.vit_stack_start_layer() || config.is_anyres_deepstack)
        throw Error(ErrorKind::config, file, "the demo model trains the plain DeepStack-L layout (not -V or -HD)");
    return config;
}

void Run::make_parameters() {
    {
        torch::NoGradGuard no_grad;
        for (const auto& [name, tensor] : model_->named_weights()) {
            // Biases start at zero and norm scales at one; everything else keeps normal(0, 0.02).
            const bool bias = name.ends_with(".bias");
            const bool norm_scale = name.find("norm") != std::string::npos && name.ends_with(".weight");
            if (bias) tensor.zero_();
            else if (norm_scale) tensor.fill_(1.0);
            tensor.set_requires_grad(true);
            (tensor.dim() >= 2 ? matrices_ : vectors_).push_back(tensor);
        }
    }
    // The glyph head lives beside the model, in the checkpoint only.
    checkpoint_weights_ = model_->named_weights();
    if (o_.glyph_loss > 0) {
        glyph_head_weight_ = (torch::randn({kSlotColumns * kSlotRows * kGlyphClasses, config_.vision.hidden_size}) * 0.02).to(device_).set_requires_grad(true);
        glyph_head_bias_ = torch::zeros({kSlotColumns * kSlotRows * kGlyphClasses}, torch::TensorOptions().device(device_)).set_requires_grad(true);
        matrices_.push_back(glyph_head_weight_);
        vectors_.push_back(glyph_head_bias_);
        for (const auto& named : glyph_head_weights()) checkpoint_weights_.push_back(named);
    }
    parameters_ = matrices_;
    parameters_.insert(parameters_.end(), vectors_.begin(), vectors_.end());
}

void Run::make_optimizer() {
    // AdamW, the betas once for both groups.
    constexpr std::tuple<double, double> kBetas{0.9, 0.95};
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(matrices_, std::make_unique<torch::optim::AdamWOptions>(
                                       torch::optim::AdamWOptions(o_.learning_rate).betas(kBetas).weight_decay(o_.weight_decay)));
    groups.emplace_back(vectors_, std::make_unique<torch::optim::AdamWOptions>(
                                      torch::optim::AdamWOptions(o_.learning_rate).betas(kBetas).weight_decay(0.0)));
    optimizer_ = std::make_unique<torch::optim::AdamW>(groups);
}

void Run::resume() {
    std::filesystem::create_directories(checkpoint_);
    identity_ = {{"steps", o_.steps}, {"batch", o_.batch}, {"stacked", o_.stacked}, {"seed", o_.seed},
                 {"learning_rate", o_.learning_rate}, {"page_size", o_.pages.page_size},
                 {"questions_per_page", o_.questions_per_page}, {"config", json_}};
    if (o_.distinct_pages > 0) identity_["distinct_pages"] = o_.distinct_pages;
    if (o_.reading_turn) identity_["reading_conversation"] = true;
    if (o_.glyph_loss > 0) identity_["glyph_loss"] = o_.glyph_loss;
    if (o_.pages.field_text_height != SyntheticOptions{}.field_text_height) identity_["text_height"] = o_.pages.field_text_height;
    if (o_.ema > 0) identity_["ema"] = o_.ema;
    if (o_.start_step > 0) identity_["start_step"] = o_.start_step;
    if (!o_.init_from.empty()) {
        const auto source = starting_weights(o_.init_from);
        identity_["init_from"] = fingerprint(source);
        load_weights(checkpoint_weights_, source, true);
        const auto glyph_head = o_.init_from / kGlyphHeadFile;
        if (glyph_head_weight_.defined() && source.filename() == "model.safetensors" && std::filesystem::is_regular_file(glyph_head)) {
            load_weights(glyph_head_weights(), glyph_head);
            identity_["init_glyph_head"] = fingerprint(glyph_head);
        }
    }
    if (!std::filesystem::exists(checkpoint_ / "state.json")) {
        step_ = o_.start_step;
        return;
    }
    const auto state = config::read_json_file(checkpoint_ / "state.json");
    const auto& written = state.at("identity");
    if (written != identity_) {
        // A run's --init-from source may have trained on since this run started from it: say so, not "other options".
        auto written_without_start = written, asked_without_start = identity_;
        written_without_start.erase("init_from");
        asked_without_start.erase("init_from");
        if (written_without_start == asked_without_start)
            throw Error(ErrorKind::config, (checkpoint_ / "state.json").string(),
                        "this run started from other weights than --init-from holds now (another source, or one that has "
                        "changed since); use another output folder");
        throw Error(ErrorKind::config, (checkpoint_ / "state.json").string(),
                    "this checkpoint was written by a run with other options or another config; use another output folder");
    }
    step_ = state.at("step").get<std::int64_t>();
    resumed_ = true;
    load_weights(checkpoint_weights_, checkpoint_ / "weights.safetensors");
    torch::load(*optimizer_, (checkpoint_ / "optimizer.pt").string());
}

// The average starts from the weights the run starts with (random, --init-from's or a checkpoint's raw weights),
// or goes on from the one a checkpoint kept.
void Run::start_average() {
    if (o_.ema <= 0) return;
    torch::NoGradGuard no_grad;
    for (const auto& [name, tensor] : model_->named_weights()) average_.emplace_back(name, tensor.detach().clone());
    if (resumed_) load_weights(average_, checkpoint_ / kAverageFile);
}

void Run::update_average() {
    if (o_.ema <= 0) return;
    torch::NoGradGuard no_grad;
    const auto weights = model_->named_weights();
    for (std::size_t i = 0; i < average_.size(); ++i) average_[i].second.mul_(o_.ema).add_(weights[i].second.detach(), 1.0 - o_.ema);
}

// The current weights as a model folder that Model::load reads like a released checkpoint, beside every
// checkpoint: a run's progress can be evaluated, chatted with or carried to another machine at any time.
void Run::write_model_folder() const {
    const auto folder = o_.output / "model";
    std::filesystem::create_directories(folder);
    write_text_atomically(folder / "config.json", json_.dump(2));
    std::filesystem::copy_file(o_.base / "tokenizer.model", folder / "tokenizer.model", std::filesystem::copy_options::overwrite_existing);
    // The released layout carries the CLIP layers after the selected feature, which nothing reads: written as
    // zeros when the config selects an earlier layer (the demo model's config selects the last one).
    auto weights = o_.ema > 0 ? average_ : model_->named_weights();
    std::set<std::string> have;
    for (const auto& [name, tensor] : weights) have.insert(name);
    for (const auto& spec : deepstack_llama::describe(config_).tensors)
        if (!spec.optional && !have.contains(spec.name))
            weights.emplace_back(spec.name, torch::zeros(std::vector<std::int64_t>(spec.shape.begin(), spec.shape.end())));
    std::int64_t count = 0;
    for (const auto& [name, tensor] : weights) count += tensor.numel();
    // fp32 while it fits the 30 MB a bundled model may weigh; bf16 beyond, or when asked (a folder committed
    // after each stretch of training).
    save_weights(weights, folder / "model.safetensors", o_.model_bf16 || count * 4 > 30'000'000);
    if (glyph_head_weight_.defined()) save_weights(glyph_head_weights(), folder / kGlyphHeadFile, false);
    write_text_atomically(folder / "sample_questions.json", nlohmann::json{{"questions", synthetic_example_questions()}}.dump(2));
    // Where the weights stand in their run (its options and step): a folder carried to another machine goes on with
    // --init-from it and --start-step its step.
    write_text_atomically(folder / "training.json", nlohmann::json{{"identity", identity_}, {"step", step_}}.dump(1));
    // Room for the reading turn ("Read the page.": a page's transcript, as evaluate allows it); field answers end
    // at their end-of-sequence token long before.
    write_text_atomically(folder / "generation_config.json",
                          nlohmann::json{{"bos_token_id", config_.text.bos_token_id}, {"eos_token_id", config_.text.eos_token_id},
                                         {"do_sample", false}, {"max_new_tokens", 200}}
                              .dump(2));
}

// The checkpoint is staged whole and swapped in at once: a kill at any moment resumes the weights, the optimizer
// and the step of one and the same save.
void Run::save_checkpoint() {
    write_model_folder();
    const auto staged = o_.output / "checkpoint.partial";
    std::filesystem::remove_all(staged);
    std::filesystem::create_directories(staged);
    save_weights(checkpoint_weights_, staged / "weights.safetensors", false);
    if (o_.ema > 0) save_weights(average_, staged / kAverageFile, false);
    torch::save(*optimizer_, (staged / "optimizer.pt").string());
    write_text_atomically(staged / "state.json", nlohmann::json{{"identity", identity_}, {"step", step_}}.dump(1));
    io::replace_folder(staged, checkpoint_);
}

Sample Run::make_sample(std::uint64_t index) const {
    if (o_.distinct_pages > 0) index %= static_cast<std::uint64_t>(o_.distinct_pages);
    const auto page = synthetic_page(SyntheticSplit::train, index, o_.pages);
    // The questions in an order of their own per page, so that every kind is also asked first, with the image.
    std::vector<const SyntheticQuestion*> order;
    for (const auto& q : page.questions) order.push_back(&q);
    std::uint64_t mix = (index + 1) * 0x9E3779B97F4A7C15ull;
    for (std::size_t i = order.size(); i > 1; --i) {
        mix ^= mix >> 29;
        mix *= 0xBF58476D1CE4E5B9ull;
        std::swap(order[i - 1], order[static_cast<std::size_t>(mix >> 33) % i]);
    }
    order.resize(std::min<std::size_t>(order.size(), static_cast<std::size_t>(o_.questions_per_page)));
    Sample s;
    const auto views = deepstack_llama::make_views(page.image, config_, clip_);
    if (o_.glyph_loss > 0) {
        torch::Tensor vision;
        s.features = model_->encode_image(views, &vision);
        s.crop_vision = vision.narrow(0, 1, views.grid.cells());
        s.glyph_targets = glyph_targets(page.glyphs, views.grid, clip_.crop, config_.vision.patch_size).to(device_);
    } else {
        s.features = model_->encode_image(views);
    }
    s.dialogues.push_back(make_dialogue(s, order));
    // Read in a conversation of its own: after the questions, the page read out could be copied from their answers
    // above it instead of read from the picture (a model trained so learned the copying and no reading).
    if (o_.reading_turn) s.dialogues.push_back(make_dialogue(s, {&page.reading}));
    return s;
}

Dialogue Run::make_dialogue(const Sample& sample, const std::vector<const SyntheticQuestion*>& turns) const {
    const auto bos = static_cast<TokenId>(config_.text.bos_token_id);
    const auto eos = static_cast<std::int64_t>(config_.text.eos_token_id);
    Dialogue d;
    for (std::size_t turn = 0; turn < turns.size(); ++turn) {
        const bool first = turn == 0;
        const auto spliced = deepstack_llama::splice_images(
            *tokenizer_, deepstack_llama::render_vicuna_turn(config_.vicuna_system_prompt, first, first ? 1 : 0, turns[turn]->question),
            first ? std::vector<std::int64_t>{sample.features.embeds.size(0)} : std::vector<std::int64_t>{},
            first ? std::optional<TokenId>(bos) : std::nullopt);
        if (first) d.image_offset = spliced.image_offsets.at(0);
        d.ids.insert(d.ids.end(), spliced.ids.begin(), spliced.ids.end());
        const auto answer = tokenizer_->encode(turns[turn]->answer);
        std::vector<std::int64_t> reply(answer.begin(), answer.end());
        reply.push_back(eos);
        for (const auto id : reply) {
            if (turns[turn]->small_print) d.small_print.push_back(static_cast<std::int64_t>(d.targets.size()));
            d.predicting.push_back(static_cast<std::int64_t>(d.ids.size()) - 1);
            d.targets.push_back(id);
            d.ids.push_back(id);
        }
    }
    return d;
}

double Run::learning_rate_at(std::int64_t at) const {
    if (at < o_.warmup_steps) return o_.learning_rate * static_cast<double>(at + 1) / static_cast<double>(o_.warmup_steps);
    const double progress = static_cast<double>(at - o_.warmup_steps) / static_cast<double>(std::max<std::int64_t>(1, o_.steps - o_.warmup_steps));
    const double floor = o_.final_learning_rate_fraction;
    const double cosine = o_.learning_rate * (floor + (1 - floor) * 0.5 * (1 + std::cos(M_PI * std::min(1.0, progress))));
    // A run continued at start_step: its fresh optimizer warms up again, towards the schedule's rate there.
    const auto since_start = at - o_.start_step;
    if (o_.start_step > 0 && since_start < o_.warmup_steps)
        return cosine * static_cast<double>(since_start + 1) / static_cast<double>(o_.warmup_steps);
    return cosine;
}

// Where a page's conversations stop being alike: the longest common beginning of their tokens, if it holds the
// picture whole and no answer. 0 when there is one conversation or the picture lies elsewhere.
std::int64_t shared_beginning(const std::vector<Dialogue>& dialogues, std::int64_t image_tokens) {
    if (dialogues.size() < 2) return 0;
    auto shared = static_cast<std::int64_t>(dialogues.front().ids.size());
    for (const auto& d : dialogues) {
        if (d.image_offset != dialogues.front().image_offset || d.predicting.empty()) return 0;
        std::int64_t same = 0;
        while (same < shared && same < static_cast<std::int64_t>(d.ids.size()) &&
               d.ids[static_cast<std::size_t>(same)] == dialogues.front().ids[static_cast<std::size_t>(same)])
            ++same;
        // Positions from the first predicting one on need their logits from the conversation's own pass.
        shared = std::min({shared, same, d.predicting.front()});
    }
    return shared >= dialogues.front().image_offset + image_tokens ? shared : 0;
}

// Every answer token of a page's conversations weighs the same, plus the glyph loss's share. The conversations'
// common beginning (the first turn's opening with the picture's tokens) runs once.
PageLoss Run::page_loss(std::uint64_t index) const {
    const auto sample = make_sample(index);
    PageLoss page;
    torch::Tensor summed;
    std::int64_t answer_tokens = 0;
    const auto shared = o_.share_page_beginning ? shared_beginning(sample.dialogues, sample.features.embeds.size(0)) : 0;
    auto beginning = nn::KvCache::for_training(config_.text.num_hidden_layers);
    const deepstack_llama::PlacedImage placed{&sample.features, sample.dialogues.front().image_offset};
    if (shared > 0) {
        const std::vector<std::int64_t> ids(sample.dialogues.front().ids.begin(), sample.dialogues.front().ids.begin() + shared);
        model_->forward(ids, {placed}, beginning, true);
    }
    for (const auto& d : sample.dialogues) {
        auto cache = beginning;
        const std::vector<std::int64_t> ids(d.ids.begin() + shared, d.ids.end());
        const auto images = shared > 0 ? std::vector<deepstack_llama::PlacedImage>{}
                                       : std::vector<deepstack_llama::PlacedImage>{{&sample.features, d.image_offset}};
        const auto logits = model_->forward(ids, images, cache, false);  // [L - shared, V]
        std::vector<std::int64_t> rows(d.predicting);
        for (auto& row : rows) row -= shared;
        const auto per_token = torch::nn::functional::cross_entropy(
            logits.index_select(0, torch::tensor(rows, torch::kLong).to(device_)), torch::tensor(d.targets, torch::kLong).to(device_),
            torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
        const auto part = per_token.sum();
        summed = summed.defined() ? summed + part : part;
        answer_tokens += static_cast<std::int64_t>(d.targets.size());
        if (!d.small_print.empty()) {
            page.small_print_sum += per_token.detach().index_select(0, torch::tensor(d.small_print, torch::kLong).to(device_)).sum().item<double>();
            page.small_print_tokens += static_cast<std::int64_t>(d.small_print.size());
        }
    }
    const auto loss = summed / static_cast<double>(answer_tokens);
    auto total = loss;
    if (o_.glyph_loss > 0) {
        const auto logits_per_slot = torch::nn::functional::linear(sample.crop_vision, glyph_head_weight_, glyph_head_bias_)
                                         .reshape({-1, kGlyphClasses});
        const auto slot_targets = sample.glyph_targets.reshape({-1});
        const auto glyph = torch::nn::functional::cross_entropy(logits_per_slot, slot_targets);
        const auto count = count_named_glyphs(logits_per_slot.detach(), slot_targets);
        page.glyphs_seen = count.printed;
        page.glyphs_named = count.named;
        total = total + o_.glyph_loss * glyph;
        page.glyph = glyph.item<double>();
    }
    page.scaled = total / static_cast<double>(o_.batch);
    page.answers = loss.item<double>();
    return page;
}

// The batch's pages side by side on the CPU, one worker per core (or per group of cores): the demo model's
// matrices are too small for two cores to share one page well (one page on two threads ran 1.4x as fast as on
// one; two workers of one thread each, 1.85x). A free worker takes the next page (pages differ in length); each
// page's gradients are kept apart and added in page order, as the sequential backward adds them, so the weights do
// not depend on the number of workers or on timing.
void Run::accumulate_gradients(std::vector<PageLoss>& pages) {
    if (page_workers_ == 1) {
        for (std::int64_t b = 0; b < o_.batch; ++b) {
            pages[static_cast<std::size_t>(b)] = page_loss(static_cast<std::uint64_t>(step_ * o_.batch + b));
            pages[static_cast<std::size_t>(b)].scaled.backward();
        }
        return;
    }
    std::vector<std::vector<torch::Tensor>> gradients(static_cast<std::size_t>(o_.batch));
    side_by_side(o_.batch, page_workers_, threads_per_worker_, [&](int, std::int64_t b) {
        auto& page = pages[static_cast<std::size_t>(b)];
        page = page_loss(static_cast<std::uint64_t>(step_ * o_.batch + b));
        gradients[static_cast<std::size_t>(b)] = torch::autograd::grad({page.scaled}, parameters_, {}, false, false, /*allow_unused=*/true);
        page.scaled = page.scaled.detach();
    });
    torch::NoGradGuard no_grad;
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
        torch::Tensor sum;
        for (const auto& page : gradients) {
            const auto& gradient = page[i];
            if (!gradient.defined()) continue;
            // The first page's copied: autograd may hand out views (which the optimizer cannot detach in place) or
            // one tensor for two weights (both ends of an addition).
            sum = sum.defined() ? sum.add_(gradient) : gradient.clone();
        }
        // A weight no page reached keeps no gradient, as after a sequential backward (the twin's stack fields).
        if (sum.defined()) parameters_[i].mutable_grad() = sum;
    }
}

// One optimizer step over the batch's pages.
TrainingProgress Run::train_step() {
    const auto start = std::chrono::steady_clock::now();
    const auto rate = learning_rate_at(step_);
    for (auto& group : optimizer_->param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(rate);
    optimizer_->zero_grad();
    std::vector<PageLoss> pages(static_cast<std::size_t>(o_.batch));
    accumulate_gradients(pages);
    double loss_sum = 0, glyph_sum = 0, small_print_sum = 0;
    std::int64_t glyphs_seen = 0, glyphs_named = 0, small_print_tokens = 0;
    for (const auto& page : pages) {
        loss_sum += page.answers;
        glyph_sum += page.glyph;
        small_print_sum += page.small_print_sum;
        small_print_tokens += page.small_print_tokens;
        glyphs_seen += page.glyphs_seen;
        glyphs_named += page.glyphs_named;
    }
    const auto norm = torch::nn::utils::clip_grad_norm_(parameters_, o_.clip_norm);
    optimizer_->step();
    update_average();
    ++step_;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto batch = static_cast<double>(o_.batch);
    return {step_, o_.steps, loss_sum / batch, rate, static_cast<double>(norm), batch / seconds, glyph_sum / batch,
            glyphs_seen > 0 ? static_cast<double>(glyphs_named) / static_cast<double>(glyphs_seen) : 0.0,
            small_print_tokens > 0 ? small_print_sum / static_cast<double>(small_print_tokens) : 0.0};
}

}  // namespace

TrainingResult train(const TrainingOptions& o) {
    if (o.steps < 1 || o.batch < 1 || o.learning_rate <= 0)
        throw Error(ErrorKind::config, "", "training needs steps >= 1, batch >= 1 and a positive learning rate");
    if (!(o.ema >= 0 && o.ema < 1))
        throw Error(ErrorKind::config, "", "the weights' moving average takes a decay in [0, 1) (0: off), not " + std::to_string(o.ema));
    if (o.start_step < 0 || o.start_step >= o.steps || (o.start_step > 0 && o.init_from.empty()))
        throw Error(ErrorKind::config, "", "a run starts at a step of its schedule (below --steps) only from other weights (--init-from), not at " +
                                               std::to_string(o.start_step));
    if (!(o.glyph_loss >= 0))
        throw Error(ErrorKind::config, "", "the glyph loss's weight is 0 (off) or positive, not " + std::to_string(o.glyph_loss));
    keep_freed_memory_for_reuse();
    Run run(o);
    TrainingResult result;
    const auto last = o.stop_after > 0 ? std::min(o.steps, run.step() + o.stop_after) : o.steps;
    while (run.step() < last) {
        if (o.cancel != nullptr && o.cancel->load()) break;
        const auto progress = run.train_step();
        result.last_loss = progress.loss;
        if (o.on_progress) o.on_progress(progress);
        if (run.step() % o.checkpoint_every == 0 && run.step() < last) run.save_checkpoint();
    }
    run.save_checkpoint();
    result.step = run.step();
    result.finished = result.step >= o.steps;
    result.model = o.output / "model";
    return result;
}

}  // namespace deepstack

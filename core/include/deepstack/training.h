// Training the demo model: a DeepStack-L layout (small CLIP-style ViT, projector, LLaMA-style decoder) or its twin
// without stacks, on synthetic pages, with the inference model code itself under LibTorch autograd. AdamW,
// warm-up then cosine, gradient clipping, checkpoints that a later run resumes (training may span sessions), and
// the result written as a model folder that Model::load reads like a released checkpoint.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "deepstack/attention.h"
#include "deepstack/engine.h"
#include "deepstack/synthetic.h"

namespace deepstack {

struct TrainingProgress {
    std::int64_t step = 0, steps = 0;  // steps done, of all
    double loss = 0;                   // mean over this step's pages (each page: over its answer tokens)
    double learning_rate = 0;
    double gradient_norm = 0;          // before clipping
    double pages_per_s = 0;
    double glyph_loss = 0;             // the vision tower's character loss, this step's mean (0 when off)
    // The share of this step's printed characters the glyph head names right (slots holding none left out): the
    // loss is mostly over empty slots and says little about reading.
    double glyph_accuracy = 0;
    // The loss over the tokens of answers printed in the small text alone (0 when the step asked none): the mean
    // over all answers is mostly formats and fixed words, and cannot show a model beginning to read.
    double small_print_loss = 0;
};

struct TrainingOptions {
    // config.json (the architecture: a deepstack_llama DeepStack-L config) and tokenizer.model.
    std::filesystem::path base;
    // checkpoint/ and model/ are written here; a checkpoint already there is resumed.
    std::filesystem::path output;
    bool stacked = true;  // false: the twin without stacks ("nostack"), everything else the same
    std::int64_t steps = 2000;
    std::int64_t batch = 8;  // pages per optimizer step
    std::int64_t questions_per_page = 8;  // one conversation per page: its first questions, in a shuffled order
    // 0: every step sees new pages. N: the training pages 0 .. N - 1 over and over (a model that can tell its
    // pictures apart learns their answers by heart: the check that the picture reaches the answer at all).
    std::int64_t distinct_pages = 0;
    // Also trains each page's reading turn (SyntheticPage::reading: the whole page read out, or a scene's shapes
    // listed) in a conversation of its own on the same picture. Every token of it depends on the picture, which a
    // question's fixed wording and predictable answer format do not; asked after the questions, it could be copied
    // from their answers instead.
    bool reading_turn = false;
    // > 0: adds this weight times a loss on the vision tower itself: from every high-resolution crop's patch
    // features, a small head (training only, not in the model folder) names the character centred in each of
    // the patch's 3 x 2 slots (SyntheticPage::glyphs). Reading needs a tower that sees characters and a decoder
    // that looks for them; the answers alone teach neither until the other exists, so the tower gets its own
    // signal. Both twins get it (the twin's tower sees the crops for it only), so they still differ in the
    // stacks alone.
    double glyph_loss = 0;
    // Starts from these weights instead of random ones: RUN/checkpoint/weights.safetensors (a run's output folder;
    // its glyph head too) or FOLDER/model.safetensors (a model folder; its glyph head too when
    // glyph_head.safetensors lies beside it, else the head starts afresh). A curriculum:
    // a run on larger print first, then this one. The optimizer and the schedule start afresh. The source's bytes
    // are part of the run's identity (a checkpoint resumes only from the same start).
    std::filesystem::path init_from;
    // With init_from: the step of the schedule this run starts at, as if its first `start_step` steps had been the
    // source's (a run carried to another machine by its committed weights): the cosine and the pages go on from
    // there, where a new run would begin both again; the optimizer's moments start afresh, so the learning rate
    // warms up again over warmup_steps. 0: a run of its own.
    std::int64_t start_step = 0;
    std::int64_t warmup_steps = 100;
    std::int64_t checkpoint_every = 100;
    double learning_rate = 1e-3;
    double final_learning_rate_fraction = 0.1;  // the cosine ends at this fraction of the peak
    double weight_decay = 0.05;                 // on matrices only
    double clip_norm = 1.0;
    // > 0: model/ holds a moving average of the weights instead of the last step's: after every step
    // average = ema * average + (1 - ema) * weights, starting from the weights the run starts with (0.999 averages
    // about the last thousand steps). One step's weights carry that step's noise, which their average does not
    // (TRAINING.md: the mean of two stretches' ends read 11 more held-out small-print fields than either). The
    // checkpoint keeps both; training goes on from the raw weights.
    double ema = 0;
    std::uint64_t seed = 1;
    int threads = 0;  // 0: every core
    // The batch's pages computed side by side on the CPU, each worker with threads / workers LibTorch threads; 0:
    // one worker per thread (at most the batch). The pages' gradients are added in page order whatever the count:
    // with the same threads per page, the weights are the same bit for bit.
    int page_workers = 0;
    // A page's conversations (its questions, its reading turn) begin alike, with the picture: that beginning runs
    // once and each conversation goes on from its keys and values, the same sums in another order (off: each runs
    // whole, the check that sharing changes nothing).
    bool share_page_beginning = true;
    // Where the model trains (fp32 either way). Not part of a run's identity: a run may go on elsewhere.
    DeviceKind device = DeviceKind::cpu;
    SyntheticOptions pages;
    // model/ (the weights at the last checkpoint, as a model folder) in bf16 even when fp32 would fit 30 MB.
    bool model_bf16 = false;
    std::int64_t stop_after = 0;  // 0: run to `steps`; else at most this many steps in this call (then checkpoint)
    std::function<void(const TrainingProgress&)> on_progress;
    const std::atomic<bool>* cancel = nullptr;  // checked between steps; a checkpoint is written before returning
};

struct TrainingResult {
    std::int64_t step = 0;  // steps done in all
    bool finished = false;  // step == steps: model/ holds the result
    double last_loss = 0;
    std::filesystem::path model;  // the model folder, rewritten at every checkpoint: the weights as they are
};

// Throws deepstack::Error naming the file for a bad base folder, an unreadable checkpoint or one written for
// other options.
TrainingResult train(const TrainingOptions& options);

struct EvaluationOptions {
    std::uint64_t first_page = 0;
    std::int64_t pages = 200;  // held-out pages first_page .. first_page + pages - 1, every question of each
    SyntheticOptions page_options;
    int threads = 0;
    // Pages answered side by side on the CPU, each worker with a model of its own and threads / workers threads
    // (the demo model is too small for two cores to share one answer well). The scores are added in page order.
    int page_workers = 1;
    DeviceKind device = DeviceKind::cpu;
    std::int64_t max_new_tokens = 24;
    // Also record where the answers looked (Conversation::capture_attention) for the questions whose answer is
    // printed on the page, and measure how much of it lands on the field asked about.
    bool field_attention = false;
    // Also asks each page's reading turn ("Read the page.", "List the shapes.") alone and scores the transcript
    // by characters: how much of a page the model sees, long before whole fields come out right.
    bool reading = false;
    std::int64_t max_reading_tokens = 200;
    std::function<void(std::int64_t done, std::int64_t total)> on_progress;  // from the workers' threads, one at a time
};

struct EvaluationCount {
    std::int64_t asked = 0, correct = 0;
    double accuracy() const { return asked > 0 ? static_cast<double>(correct) / static_cast<double>(asked) : 0.0; }
};

struct EvaluationResult {
    std::uint64_t first_page = 0;
    std::int64_t pages = 0;
    int page_size = 0;
    double text_height = 0;  // the small print's cap height, pixels
    EvaluationCount all, small_print;
    std::vector<std::pair<std::string, EvaluationCount>> kinds;  // per question kind, sorted by name
    struct Miss {
        std::uint64_t page = 0;
        std::string question, expected, answered;
    };
    std::vector<Miss> misses;  // the first few wrong answers, to read

    // With EvaluationOptions::reading: per page, 1 - (edit distance between the transcript and the expected one) /
    // (the longer's length), averaged; transcripts right to the character; and the first few, to read.
    std::int64_t readings = 0, readings_exact = 0;
    double reading_similarity = 0;
    std::vector<Miss> reading_samples;

    // With EvaluationOptions::field_attention, per language layer, over the answer tokens (heads averaged) of
    // every question whose answer is printed on the page: the input tokens whose region overlaps the answer's
    // box are the field's tokens.
    struct FieldAttention {
        std::int64_t layer = 0;
        double field_token_share = 0;  // the field's tokens among the picture's (what attention spread evenly gives)
        double mass_on_field = 0;      // the share of the attention on the picture that falls on them
        double top_token_on_field = 0;  // questions whose most-attended token is one of them
    };
    std::int64_t field_questions = 0;
    std::vector<FieldAttention> field_attention;
};

// Exact match (surrounding spaces ignored) of the model's greedy answers on the held-out split, each question in
// a conversation of its own. The model runs through Model::load, as in the app.
EvaluationResult evaluate(const std::filesystem::path& model_folder, const EvaluationOptions& options);

// 1 - (Levenshtein distance) / (the longer's length), by bytes: 1 for the same text, 0 for nothing in common.
double character_similarity(const std::string& a, const std::string& b);

// The tallies behind EvaluationResult, fed one answer at a time (what evaluate() does with the model's answers).
class EvaluationScorer {
public:
    // An answer is right when it equals the expected one once surrounding spaces are trimmed.
    void add_answer(std::uint64_t page, const SyntheticQuestion& question, const std::string& answer);
    void add_reading(std::uint64_t page, const SyntheticQuestion& reading, const std::string& transcript);
    // The answer rows of `capture` (heads averaged) against the field's box on the capture's first picture: its
    // input tokens that overlap the box are the field's. False (nothing counted) when the capture has no answer
    // rows, the field is an empty box, or no token lies on it.
    bool add_field_attention(const AttentionCapture& capture, const ImageRegion& field);
    // The averages taken, the rest copied: the result of everything added.
    EvaluationResult result() const;

private:
    EvaluationResult tally_;
    std::map<std::string, EvaluationCount> kinds_;
    std::vector<std::int64_t> layers_;
    std::vector<double> token_share_, mass_, top_;  // per recorded layer, summed over field questions
};
std::string to_json(const EvaluationResult& result);

}  // namespace deepstack

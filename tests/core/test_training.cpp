// The trainer on the tiny DeepStack-L fixture (its config and tokenizer.model) and 64-pixel synthetic pages: the
// loss falls; a run stopped and resumed from its checkpoint ends with the very weights of an uninterrupted one;
// a checkpoint of other options is refused; Stop leaves a checkpoint; the result loads as a model folder and
// answers; the twin without stacks is the same model with no groups.
#include <QtTest>
#include "test_main.h"

#include <atomic>
#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "deepstack/engine.h"
#include "deepstack/error.h"
#include "deepstack/inspect.h"
#include "deepstack/safetensors.h"
#include "deepstack/training.h"
#include "tensor/torch_bridge.h"
#include "config/json_fields.h"
#include "models/deepstack_llama/architecture.h"
#include "models/deepstack_llama/processor.h"
#include "training/glyphs.h"
#include "test_files.h"
#include "tiny_training.h"

namespace test_training {

using namespace deepstack;

namespace {
const std::filesystem::path& kBase = testing::tiny_training_base();
const auto tiny = testing::tiny_training;

// A copy of the fixture's base (config.json and tokenizer, no weights) with `fields` set in its config.
std::filesystem::path base_with(const std::filesystem::path& folder, const nlohmann::json& fields) {
    std::filesystem::create_directories(folder);
    for (const auto& entry : std::filesystem::directory_iterator(kBase))
        if (entry.path().extension() != ".safetensors") std::filesystem::copy_file(entry.path(), folder / entry.path().filename());
    auto config = nlohmann::json::parse(std::ifstream(kBase / "config.json"));
    config.update(fields);
    std::ofstream(folder / "config.json") << config.dump(2);
    return folder;
}

double max_difference(const std::filesystem::path& a, const std::filesystem::path& b) {
    const auto fa = Checkpoint::open(a), fb = Checkpoint::open(b);
    double worst = 0;
    for (const auto& name : fa.names())
        worst = std::max(worst, (tensor::to_torch(fa.view(name), torch::kFloat32) - tensor::to_torch(fb.view(name), torch::kFloat32)).abs().max().item<double>());
    return worst;
}

// Between the glyph heads two runs checkpointed.
double max_glyph_head_difference(const std::filesystem::path& run_a, const std::filesystem::path& run_b) {
    const auto head = [](const std::filesystem::path& run) {
        return tensor::to_torch(Checkpoint::open(run / "checkpoint" / "weights.safetensors").view("glyph_head.weight"), torch::kFloat32);
    };
    return (head(run_a) - head(run_b)).abs().max().item<double>();
}
}  // namespace

class TestTraining : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::filesystem::path root() const { return dir_.path().toStdString(); }

private Q_SLOTS:
    void lossFalls() {
        auto o = tiny(root() / "falls", 40);
        std::vector<double> losses, small_print_losses;
        o.on_progress = [&](const TrainingProgress& p) {
            losses.push_back(p.loss);
            small_print_losses.push_back(p.small_print_loss);
            QVERIFY(p.pages_per_s > 0 && p.learning_rate > 0 && p.gradient_norm > 0);
        };
        const auto result = train(o);
        QVERIFY(result.finished);
        // In 40 steps of new pages the fall is mostly the answers' format, which needs no picture; that the
        // picture reaches the answers is test_training_convergence's check.
        QCOMPARE(losses.size(), std::size_t{40});
        double first = 0, last = 0;
        for (int i = 0; i < 5; ++i) first += losses[static_cast<std::size_t>(i)], last += losses[losses.size() - 1 - static_cast<std::size_t>(i)];
        QVERIFY2(last < 0.7 * first, qPrintable(QString("loss %1 -> %2").arg(first / 5).arg(last / 5)));
        // The small print's own loss is logged (0 for a step of scenes alone, which print no fields), and it is
        // not the mean over all answers.
        std::size_t asked = 0, differs = 0;
        for (std::size_t i = 0; i < losses.size(); ++i) {
            QVERIFY2(small_print_losses[i] >= 0 && std::isfinite(small_print_losses[i]), qPrintable(QString::number(small_print_losses[i])));
            if (small_print_losses[i] > 0) ++asked;
            if (small_print_losses[i] > 0 && std::abs(small_print_losses[i] - losses[i]) > 1e-3) ++differs;
        }
        QVERIFY2(asked >= losses.size() / 2 && differs > 0, qPrintable(QString("%1 steps asked small print, %2 differ").arg(asked).arg(differs)));

        // The result is a model folder like a released one: it inspects clean, loads and answers.
        const auto report = inspect_model_folder(result.model);
        QVERIFY2(report.problems.empty(), report.problems.empty() ? "" : report.problems.front().c_str());
        EngineOptions engine;
        engine.threads = 2;
        engine.context_tokens = 512;
        const auto model = Model::load(result.model, engine);
        const auto page = synthetic_page(SyntheticSplit::held_out, 0, o.pages);
        auto chat = model->start_conversation();
        SamplingSettings greedy;
        greedy.max_new_tokens = 8;
        (void)chat->send({Message::Role::user, page.questions[0].question, {page.image}}, greedy);
        QCOMPARE(model->stack_plan(64, 64).groups.size(), std::size_t{4});

        // The held-out evaluation counts every question of every page, per kind.
        EvaluationOptions evaluation;
        evaluation.pages = 3;
        evaluation.page_options = o.pages;
        evaluation.threads = 2;
        evaluation.max_new_tokens = 6;
        std::int64_t questions = 0;
        for (std::uint64_t i = 0; i < 3; ++i) questions += static_cast<std::int64_t>(synthetic_page(SyntheticSplit::held_out, i, o.pages).questions.size());
        const auto scores = evaluate(result.model, evaluation);
        QCOMPARE(scores.all.asked, questions);
        std::int64_t per_kind = 0;
        for (const auto& [kind, count] : scores.kinds) per_kind += count.asked;
        QCOMPARE(per_kind, questions);
        QVERIFY(scores.all.correct <= scores.all.asked && scores.small_print.asked <= scores.all.asked);
        QCOMPARE(static_cast<std::int64_t>(scores.misses.size()), std::min<std::int64_t>(20, scores.all.asked - scores.all.correct));
        QVERIFY(nlohmann::json::parse(to_json(scores)).at("all").at("asked").get<std::int64_t>() == questions);
        QVERIFY(scores.field_attention.empty());

        // Where the answers looked: one line per layer, over the printed-answer questions; the pages' first
        // questions count the same either way, and the accuracy does not change by looking.
        evaluation.field_attention = true;
        const auto looked = evaluate(result.model, evaluation);
        QCOMPARE(looked.all.correct, scores.all.correct);
        QVERIFY(looked.field_questions > 0 && looked.field_questions <= looked.small_print.asked);
        QCOMPARE(static_cast<std::int64_t>(looked.field_attention.size()), std::int64_t{6});  // the fixture's 6 layers
        for (const auto& layer : looked.field_attention) {
            QVERIFY(layer.field_token_share > 0 && layer.field_token_share < 1);
            QVERIFY(layer.mass_on_field >= 0 && layer.mass_on_field <= 1);
            QVERIFY(layer.top_token_on_field >= 0 && layer.top_token_on_field <= 1);
        }
        QCOMPARE(nlohmann::json::parse(to_json(looked)).at("field_attention").at("layers").size(), looked.field_attention.size());

        // Reading each page out: one transcript per page, scored by characters, the questions' scores unchanged.
        evaluation.field_attention = false;
        evaluation.reading = true;
        evaluation.max_reading_tokens = 12;
        const auto read = evaluate(result.model, evaluation);
        QCOMPARE(read.all.correct, scores.all.correct);
        QCOMPARE(read.readings, std::int64_t{3});
        QVERIFY(read.readings_exact <= read.readings);
        QVERIFY(read.reading_similarity >= 0 && read.reading_similarity < 1);  // 12 tokens cannot read a whole page
        QCOMPARE(read.reading_samples.size(), std::size_t{3});
        QCOMPARE(read.reading_samples[1].expected, synthetic_page(SyntheticSplit::held_out, 1, o.pages).reading.answer);
        QCOMPARE(nlohmann::json::parse(to_json(read)).at("reading").at("pages").get<std::int64_t>(), std::int64_t{3});

        // Pages answered side by side (a model per worker) score as one after the other: the same answers, misses
        // and transcripts in page order, the field attention to rounding (each answer on one thread either way).
        evaluation.field_attention = true;
        evaluation.threads = 1;
        const auto alone = evaluate(result.model, evaluation);
        evaluation.page_workers = 2;
        const auto side_by_side = evaluate(result.model, evaluation);
        QCOMPARE(side_by_side.all.correct, alone.all.correct);
        QCOMPARE(side_by_side.small_print.correct, alone.small_print.correct);
        QCOMPARE(side_by_side.misses.size(), alone.misses.size());
        for (std::size_t i = 0; i < alone.misses.size(); ++i) {
            QCOMPARE(side_by_side.misses[i].page, alone.misses[i].page);
            QCOMPARE(side_by_side.misses[i].answered, alone.misses[i].answered);
        }
        QCOMPARE(side_by_side.reading_samples.size(), std::size_t{3});
        for (std::size_t i = 0; i < 3; ++i) QCOMPARE(side_by_side.reading_samples[i].answered, alone.reading_samples[i].answered);
        QCOMPARE(side_by_side.reading_similarity, alone.reading_similarity);
        QCOMPARE(side_by_side.field_attention.size(), alone.field_attention.size());
        for (std::size_t i = 0; i < alone.field_attention.size(); ++i)
            QVERIFY(std::abs(side_by_side.field_attention[i].mass_on_field - alone.field_attention[i].mass_on_field) < 1e-9);
        evaluation.page_workers = 0;
        QVERIFY_THROWS_EXCEPTION(Error, evaluate(result.model, evaluation));
    }

    // One step at a real learning rate against one at almost none: AdamW's first step moves every weight that
    // got any gradient by about the rate, so a weight the loss cannot reach (a picture cut off from the answer)
    // stays put. Both the stacked model and its twin.
    void theAnswerReachesEveryWeight() {
        for (const bool stacked : {true, false}) {
            const auto name = std::string(stacked ? "stacked" : "twin");
            auto moved = tiny(root() / ("reach-" + name), 1);
            moved.stacked = stacked;
            moved.warmup_steps = 0;
            moved.learning_rate = 1e-2;
            auto still = moved;
            still.output = root() / ("still-" + name);
            still.learning_rate = 1e-12;
            train(moved);
            train(still);
            const auto a = Checkpoint::open(moved.output / "checkpoint" / "weights.safetensors");
            const auto b = Checkpoint::open(still.output / "checkpoint" / "weights.safetensors");
            QVERIFY(a.names().size() > 50);
            for (const auto& tensor_name : a.names()) {
                // The one exception by design: softmax ignores a shift shared by every key, so q . k_bias (the
                // same for all keys of a query) never changes attention and the key bias has no gradient.
                if (tensor_name.ends_with("self_attn.k_proj.bias")) continue;
                const auto change = (tensor::to_torch(a.view(tensor_name), torch::kFloat32) - tensor::to_torch(b.view(tensor_name), torch::kFloat32))
                                        .abs().max().item<double>();
                QVERIFY2(change > 1e-3, (name + ": " + tensor_name + " did not move").c_str());
            }
        }
    }

    // --reading-turn puts the page's transcript into the loss (the same first weights give another first loss),
    // and is part of a run's identity.
    void readingTurnIsTrainedOnAndKept() {
        const auto first_loss = [&](const std::string& name, bool reading) {
            auto o = tiny(root() / name, 1);
            o.reading_turn = reading;
            double loss = 0;
            o.on_progress = [&](const TrainingProgress& p) { loss = p.loss; };
            train(o);
            return loss;
        };
        const auto with = first_loss("reading", true), without = first_loss("no-reading", false);
        QVERIFY2(std::abs(with - without) > 1e-3, (std::to_string(with) + " vs " + std::to_string(without)).c_str());
        auto other = tiny(root() / "reading", 1);
        QVERIFY_THROWS_EXCEPTION(Error, train(other));
    }

    // The glyph share counts the printed slots only: a head that names every blank slot blank and one character
    // of three printed ones scores 1/3, not 5/7.
    void glyphShareCountsPrintedSlots() {
        const auto targets = torch::tensor(std::vector<std::int64_t>{0, 5, 0, 7, 0, 9, 0});
        auto logits = torch::zeros({7, 95});
        for (const auto& [slot, best] : std::vector<std::pair<int, int>>{{0, 0}, {1, 5}, {2, 0}, {3, 2}, {4, 0}, {5, 0}, {6, 0}}) logits[slot][best] = 1.0;
        const auto count = count_named_glyphs(logits, targets);
        QCOMPARE(count.printed, std::int64_t{3});
        QCOMPARE(count.named, std::int64_t{1});
        QCOMPARE(count_named_glyphs(logits, torch::zeros({7}, torch::kLong)).printed, std::int64_t{0});
    }

    // The glyph head's targets lie where the crops the tower sees have ink: a target put on the wrong patch, slot,
    // view or axis would still be learnt by heart from one page (glyphLossTeachesTheTowerAndIsKept), but not here.
    // Pages at the demo model's size and print through its views (models/demo/base: 112-pixel crops, 14-pixel
    // patches; the fixture's 7-pixel patches blur 10-pixel print to grey).
    void glyphTargetsLieOnTheirInk() {
        const auto demo_config = testing::data_dir().parent_path().parent_path() / "models" / "demo" / "base" / "config.json";
        const auto config = deepstack_llama::parse_config(config::Fields(nlohmann::json::parse(std::ifstream(demo_config)), demo_config.string()));
        const auto clip = deepstack_llama::clip_preprocessing({}, config);
        const auto patch = config.vision.patch_size;
        SyntheticOptions options;
        options.field_text_height = 10;
        std::int64_t printed = 0, inked = 0, glyphs = 0;
        for (std::uint64_t index = 0; index < 6; ++index) {
            const auto page = synthetic_page(SyntheticSplit::held_out, index, options);
            const auto views = deepstack_llama::make_views(page.image, config, clip);
            const auto targets = glyph_targets(page.glyphs, views.grid, clip.crop, patch);
            // Back to [0, 1] grey: ink is what is clearly darker than the paper.
            const auto mean = torch::tensor(std::vector<double>(clip.mean.begin(), clip.mean.end()), torch::kFloat32).view({1, 3, 1, 1});
            const auto std = torch::tensor(std::vector<double>(clip.std.begin(), clip.std.end()), torch::kFloat32).view({1, 3, 1, 1});
            const auto grey = (views.pixels * std + mean).mean(1);  // [views, S, S]
            const auto per_side = clip.crop / patch;
            const auto cells = targets.accessor<std::int64_t, 3>();
            for (std::int64_t view = 0; view < targets.size(0); ++view)
                for (std::int64_t at = 0; at < targets.size(1); ++at)
                    for (std::int64_t slot = 0; slot < targets.size(2); ++slot) {
                        if (cells[view][at][slot] == 0) continue;
                        ++printed;
                        const auto top = (at / per_side) * patch + (slot / kSlotColumns) * patch / kSlotRows;
                        const auto left = (at % per_side) * patch + (slot % kSlotColumns) * patch / kSlotColumns;
                        const auto area = grey[view + 1].slice(0, top, top + patch / kSlotRows).slice(1, left, left + patch / kSlotColumns);
                        if (area.min().item<double>() < 0.5) ++inked;
                    }
            for (const auto& glyph : page.glyphs) glyphs += glyph.character > ' ' && glyph.character <= '~';
        }
        // Every printed character gets a slot unless two centres share one (then the first keeps it).
        QVERIFY2(printed > glyphs / 2 && printed <= glyphs, qPrintable(QString("%1 slots for %2 characters").arg(printed).arg(glyphs)));
        qInfo("%lld of %lld inked, %lld glyphs", static_cast<long long>(inked), static_cast<long long>(printed), static_cast<long long>(glyphs));
        QVERIFY2(inked >= printed * 90 / 100, qPrintable(QString("%1 of %2 printed slots have ink").arg(inked).arg(printed)));
    }

    // --glyph-loss: the tower's character head learns one page's characters by heart, rides in the checkpoint
    // (a resumed run ends as an uninterrupted one) and never in the model folder; and it is part of the identity.
    void glyphLossTeachesTheTowerAndIsKept() {
        auto o = tiny(root() / "glyph", 60);
        o.glyph_loss = 1.0;
        o.distinct_pages = 1;
        std::vector<double> glyph, named;
        o.on_progress = [&](const TrainingProgress& p) {
            glyph.push_back(p.glyph_loss);
            named.push_back(p.glyph_accuracy);
        };
        const auto result = train(o);
        QCOMPARE(glyph.size(), std::size_t{60});
        QVERIFY(glyph.front() > 1.0);
        QVERIFY2(glyph.back() < 0.5 * glyph.front(), (std::to_string(glyph.front()) + " -> " + std::to_string(glyph.back())).c_str());
        // The share named starts near chance (95 classes); what it counts is tested in glyphShareCountsPrintedSlots.
        for (const double share : named) QVERIFY(share >= 0.0 && share <= 1.0);
        QVERIFY2(named.front() < 0.2, std::to_string(named.front()).c_str());
        const auto names = [](const std::filesystem::path& file) {
            std::set<std::string> all;
            for (const auto& name : Checkpoint::open(file).names()) all.insert(name);
            return all;
        };
        QVERIFY(names(root() / "glyph" / "checkpoint" / "weights.safetensors").contains("glyph_head.weight"));
        for (const auto& name : names(result.model / "model.safetensors")) QVERIFY2(!name.starts_with("glyph"), name.c_str());
        const auto report = inspect_model_folder(result.model);
        QVERIFY2(report.problems.empty(), report.problems.empty() ? "" : report.problems.front().c_str());

        auto straight = tiny(root() / "glyph-straight", 4);
        straight.glyph_loss = 1.0;
        train(straight);
        auto resumed = tiny(root() / "glyph-resumed", 4);
        resumed.glyph_loss = 1.0;
        resumed.stop_after = 2;
        train(resumed);
        resumed.stop_after = 0;
        train(resumed);
        QCOMPARE(max_difference(root() / "glyph-straight" / "checkpoint" / "weights.safetensors",
                                root() / "glyph-resumed" / "checkpoint" / "weights.safetensors"),
                 0.0);

        auto without = tiny(root() / "glyph", 60);
        QVERIFY_THROWS_EXCEPTION(Error, train(without));
        auto negative = tiny(root() / "glyph-negative", 1);
        negative.glyph_loss = -1;
        QVERIFY_THROWS_EXCEPTION(Error, train(negative));
    }

    void resumingGivesTheUninterruptedWeights() {
        const auto straight = train(tiny(root() / "straight", 6));
        auto o = tiny(root() / "resumed", 6);
        o.stop_after = 4;
        const auto first = train(o);
        QCOMPARE(first.step, std::int64_t{4});
        QVERIFY(!first.finished);
        o.stop_after = 0;
        const auto second = train(o);
        QVERIFY(second.finished);
        QCOMPARE(second.step, std::int64_t{6});
        QCOMPARE(max_difference(straight.model, second.model), 0.0);

        auto other = tiny(root() / "resumed", 6);
        other.batch = 3;
        QVERIFY_THROWS_EXCEPTION(Error, train(other));
    }

    void initFromStartsFromAnotherRunsWeights() {
        auto first = tiny(root() / "curriculum-first", 3);
        first.glyph_loss = 1.0;
        const auto before = train(first);
        // A learning rate too small to move anything: the second run's weights are the first run's.
        for (const auto& source : {root() / "curriculum-first", before.model}) {
            const auto output = root() / ("curriculum-from-" + source.filename().string());
            auto second = tiny(output, 1);
            second.glyph_loss = 1.0;
            second.learning_rate = 1e-30;
            second.init_from = source;
            const auto after = train(second);
            QVERIFY(max_difference(before.model / "model.safetensors", after.model / "model.safetensors") < 1e-6);
            // The glyph head comes along from a run's checkpoint and from a model folder (beside its weights).
            QVERIFY(max_glyph_head_difference(root() / "curriculum-first", output) < 1e-6);
        }
        // A model folder without its glyph head (one written before the head was kept there): the head starts afresh.
        const auto bare = root() / "curriculum-bare-folder";
        std::filesystem::copy(before.model, bare);
        std::filesystem::remove(bare / "glyph_head.safetensors");
        auto from_bare = tiny(root() / "curriculum-from-bare-folder", 1);
        from_bare.glyph_loss = 1.0;
        from_bare.learning_rate = 1e-30;
        from_bare.init_from = bare;
        train(from_bare);
        QVERIFY(max_glyph_head_difference(root() / "curriculum-first", root() / "curriculum-from-bare-folder") > 1e-3);
        // Its checkpoint resumes only from the same start.
        auto other_start = tiny(root() / "curriculum-from-curriculum-first", 1);
        other_start.glyph_loss = 1.0;
        other_start.learning_rate = 1e-30;
        try {
            train(other_start);
            QFAIL("a checkpoint begun from other weights was resumed");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("started from other weights") != std::string::npos, e.what());
        }
        auto nothing_there = tiny(root() / "curriculum-nothing", 1);
        nothing_there.init_from = root() / "no-such-run";
        QVERIFY_THROWS_EXCEPTION(Error, train(nothing_there));
    }

    // --ema: the model folder holds the moving average of the weights, which starts from the run's starting
    // weights, goes on across a resume from the one the checkpoint kept, and leaves the trained (raw) weights alone.
    void movingAverageIsTheModelFolder() {
        const auto start = train(tiny(root() / "average-start", 2));
        const auto weights = [](const std::filesystem::path& file) {
            std::map<std::string, torch::Tensor> out;
            const auto f = Checkpoint::open(file);
            for (const auto& name : f.names())
                if (!name.starts_with("glyph_head.")) out[name] = tensor::to_torch(f.view(name), torch::kFloat32);
            return out;
        };
        const auto largest_gap = [](const std::map<std::string, torch::Tensor>& expected, const std::map<std::string, torch::Tensor>& found) {
            double worst = 0;
            for (const auto& [name, tensor] : expected) worst = std::max(worst, (tensor - found.at(name)).abs().max().item<double>());
            return worst;
        };
        const auto w0 = weights(start.model / "model.safetensors");
        auto o = tiny(root() / "average", 2);
        o.init_from = start.model;
        o.ema = 0.5;
        o.stop_after = 1;
        train(o);
        const auto w1 = weights(o.output / "checkpoint" / "weights.safetensors");
        const auto average1 = weights(o.output / "model" / "model.safetensors");
        std::map<std::string, torch::Tensor> expected;
        for (const auto& [name, tensor] : w1) expected[name] = 0.5 * w0.at(name) + 0.5 * tensor;
        QVERIFY2(largest_gap(expected, average1) < 1e-6, "after one step: the mean of the start and the step's weights");
        QVERIFY(largest_gap(w1, w0) > 1e-4);  // the step moved the weights, so the check above tells them apart
        o.stop_after = 0;
        QVERIFY(train(o).finished);
        const auto w2 = weights(o.output / "checkpoint" / "weights.safetensors");
        for (const auto& [name, tensor] : w2) expected[name] = 0.5 * average1.at(name) + 0.5 * tensor;
        QVERIFY2(largest_gap(expected, weights(o.output / "model" / "model.safetensors")) < 1e-6, "resumed: the checkpoint's average goes on");
        // The same run without the average trains the same raw weights.
        auto plain = tiny(root() / "average-off", 2);
        plain.init_from = start.model;
        train(plain);
        QCOMPARE(largest_gap(w2, weights(plain.output / "checkpoint" / "weights.safetensors")), 0.0);
        auto bad = tiny(root() / "average-bad", 1);
        bad.ema = 1.0;
        QVERIFY_THROWS_EXCEPTION(Error, train(bad));
    }

    // The optional projector fields (mm_projector_norm, deepstack_group_embedding) can be turned on for a run
    // that starts from weights without them: they start fresh (gain 1), everything else is carried over.
    void projectorFieldsStartFreshFromOlderWeights() {
        const auto before = train(tiny(root() / "without-norm", 2));
        const auto base = base_with(root() / "base-with-norm", {{"mm_projector_norm", true}, {"deepstack_group_embedding", true}});
        auto o = tiny(root() / "with-norm", 1);
        o.base = base;
        o.init_from = before.model;
        o.learning_rate = 1e-30;
        const auto after = train(o);
        const auto report = inspect_model_folder(after.model);
        QVERIFY2(report.problems.empty(), report.problems.empty() ? "" : report.problems.front().c_str());
        const auto old_weights = Checkpoint::open(before.model / "model.safetensors");
        const auto new_weights = Checkpoint::open(after.model / "model.safetensors");
        for (const auto& name : old_weights.names()) {
            const auto difference = (tensor::to_torch(old_weights.view(name), torch::kFloat32) - tensor::to_torch(new_weights.view(name), torch::kFloat32))
                                        .abs().max().item<double>();
            QVERIFY2(difference < 1e-6, name.c_str());
        }
        QVERIFY(tensor::to_torch(new_weights.view("model.mm_projector_norm.weight"), torch::kFloat32).eq(1.0).all().item<bool>());
        QVERIFY(new_weights.contains("model.deepstack_group_embedding"));
    }

    // vicuna_system_prompt "" in the base config: training and inference both open with the user's turn (the
    // authors' line is 113 tokens of the demo tokenizer on every page), and the folder written says so.
    void emptySystemPromptIsTrainedAndKept() {
        const auto base = base_with(root() / "base-silent", {{"vicuna_system_prompt", ""}});
        double spoken_loss = 0, silent_loss = 0;
        auto spoken = tiny(root() / "spoken", 1);
        spoken.on_progress = [&](const TrainingProgress& p) { spoken_loss = p.loss; };
        const auto with_line = train(spoken);
        auto silent = tiny(root() / "silent", 1);
        silent.base = base;
        silent.on_progress = [&](const TrainingProgress& p) { silent_loss = p.loss; };
        const auto without_line = train(silent);
        QVERIFY2(std::abs(spoken_loss - silent_loss) > 1e-6, qPrintable(QString("%1 %2").arg(spoken_loss).arg(silent_loss)));

        EngineOptions engine;
        engine.threads = 2;
        engine.context_tokens = 512;
        const auto page = synthetic_page(SyntheticSplit::held_out, 0, spoken.pages);
        const auto prompt_tokens = [&](const std::filesystem::path& folder) {
            SamplingSettings greedy;
            greedy.max_new_tokens = 1;
            return Model::load(folder, engine)->start_conversation()->send({Message::Role::user, page.questions[0].question, {page.image}}, greedy).prompt_tokens;
        };
        const auto difference = prompt_tokens(with_line.model) - prompt_tokens(without_line.model);
        QVERIFY2(difference > 20, qPrintable(QString::number(difference)));
    }

    void stopLeavesACheckpoint() {
        auto o = tiny(root() / "stopped", 50);
        std::atomic<bool> stop{false};
        o.cancel = &stop;
        o.on_progress = [&](const TrainingProgress& p) {
            if (p.step == 2) stop = true;
        };
        const auto result = train(o);
        QCOMPARE(result.step, std::int64_t{2});
        QVERIFY(!result.finished);
        QVERIFY(std::filesystem::exists(root() / "stopped" / "checkpoint" / "weights.safetensors"));

        // The stopped run's weights are also a model folder (what is committed after a stretch of training and
        // continued with --init-from): it inspects clean and holds the checkpoint's weights, here in bf16.
        const auto report = inspect_model_folder(result.model);
        QVERIFY2(report.problems.empty(), report.problems.empty() ? "" : report.problems.front().c_str());
        QVERIFY(max_difference(root() / "stopped" / "checkpoint" / "weights.safetensors", result.model / "model.safetensors") == 0.0);
        auto small = tiny(root() / "stopped-bf16", 1);
        small.model_bf16 = true;
        const auto halved = train(small);
        const auto weights = Checkpoint::open(halved.model / "model.safetensors");
        for (const auto& name : weights.names()) QCOMPARE(static_cast<int>(weights.view(name).dtype()), static_cast<int>(DType::bf16));
        const auto difference = max_difference(root() / "stopped-bf16" / "checkpoint" / "weights.safetensors", halved.model / "model.safetensors");
        QVERIFY2(difference > 0 && difference < 0.01, qPrintable(QString::number(difference)));
    }

    // The batch's pages on two workers side by side: the weights of the pages one after the other, bit for bit (each
    // page on one thread either way), for the stacked model and for the twin, whose stack fields no page reaches.
    // Batch 3: the workers' shares differ. A page left out, counted twice, summed in another order or a stale
    // gradient kept all show.
    void pagesSideBySideGiveTheSequentialWeights() {
        for (const bool stacked : {true, false}) {
            auto one = tiny(root() / (stacked ? "one-worker" : "one-worker-twin"), 3);
            one.batch = 3;
            one.glyph_loss = 1.0;
            one.stacked = stacked;
            one.threads = 1;
            one.page_workers = 1;
            auto two = one;
            two.output = root() / (stacked ? "two-workers" : "two-workers-twin");
            two.page_workers = 2;
            std::vector<double> losses_one, losses_two;
            one.on_progress = [&](const TrainingProgress& p) { losses_one.push_back(p.loss + p.glyph_loss + p.small_print_loss); };
            two.on_progress = [&](const TrainingProgress& p) { losses_two.push_back(p.loss + p.glyph_loss + p.small_print_loss); };
            train(one);
            train(two);
            QCOMPARE(losses_one.size(), std::size_t{3});
            QCOMPARE(losses_two, losses_one);
            // The checkpoint's weights: the model's and the glyph head's.
            QCOMPARE(max_difference(one.output / "checkpoint" / "weights.safetensors", two.output / "checkpoint" / "weights.safetensors"), 0.0);
        }
        auto negative = tiny(root() / "negative-workers", 1);
        negative.page_workers = -1;
        QVERIFY_THROWS_EXCEPTION(Error, train(negative));
    }

    // A page's questions and its reading turn begin alike (the first turn's opening with the picture): run once,
    // the losses and the weights are those of each conversation run whole, for the stacked model (its groups join
    // inside that beginning) and the twin.
    void aPagesCommonBeginningRunsOnce() {
        for (const bool stacked : {true, false}) {
            auto whole = tiny(root() / (stacked ? "whole-conversations" : "whole-conversations-twin"), 3);
            whole.reading_turn = true;
            whole.stacked = stacked;
            whole.page_workers = 1;
            whole.share_page_beginning = false;
            auto shared = whole;
            shared.output = root() / (stacked ? "shared-beginning" : "shared-beginning-twin");
            shared.share_page_beginning = true;
            std::vector<double> losses_whole, losses_shared;
            whole.on_progress = [&](const TrainingProgress& p) { losses_whole.push_back(p.loss); };
            shared.on_progress = [&](const TrainingProgress& p) { losses_shared.push_back(p.loss); };
            train(whole);
            train(shared);
            QCOMPARE(losses_shared.size(), std::size_t{3});
            for (std::size_t i = 0; i < 3; ++i)
                QVERIFY2(std::abs(losses_whole[i] - losses_shared[i]) < 1e-5,
                         (std::to_string(losses_whole[i]) + " against " + std::to_string(losses_shared[i])).c_str());
            const auto difference = max_difference(whole.output / "checkpoint" / "weights.safetensors", shared.output / "checkpoint" / "weights.safetensors");
            qInfo("stacked %d: largest weight difference, whole against shared: %.3g", stacked, difference);
            QVERIFY2(difference < 0.1 * whole.learning_rate, std::to_string(difference).c_str());
        }
    }

    // A run carried to another machine by its model folder (fp32 here, no optimizer) and continued there with
    // start_step: the pages and the cosine go on where they were. The first continued step's loss, taken before any
    // update, is the uninterrupted run's at that step (the same weights, glyph head and pages); the learning rate
    // warms up again towards the schedule's, then follows it.
    void startStepContinuesTheRun() {
        auto straight = tiny(root() / "carried-straight", 6);
        straight.glyph_loss = 1.0;
        std::vector<TrainingProgress> uninterrupted, continued;
        straight.on_progress = [&](const TrainingProgress& p) { uninterrupted.push_back(p); };
        train(straight);
        auto first = straight;
        first.output = root() / "carried-first";
        first.stop_after = 3;
        first.on_progress = {};
        train(first);
        auto second = straight;
        second.output = root() / "carried-second";
        second.init_from = first.output / "model";
        // The folder says where its weights stand.
        const auto carried = nlohmann::json::parse(std::ifstream(first.output / "model" / "training.json"));
        QCOMPARE(carried.at("step").get<std::int64_t>(), std::int64_t{3});
        QCOMPARE(carried.at("identity").at("steps").get<std::int64_t>(), std::int64_t{6});
        second.start_step = carried.at("step").get<std::int64_t>();
        second.on_progress = [&](const TrainingProgress& p) { continued.push_back(p); };
        const auto result = train(second);
        QVERIFY(result.finished);
        QCOMPARE(continued.size(), std::size_t{3});
        QCOMPARE(continued[0].step, std::int64_t{4});
        QVERIFY2(std::abs(continued[0].loss - uninterrupted[3].loss) < 1e-6,
                 (std::to_string(continued[0].loss) + " against " + std::to_string(uninterrupted[3].loss)).c_str());
        QVERIFY(std::abs(continued[0].glyph_loss - uninterrupted[3].glyph_loss) < 1e-6);
        QVERIFY(std::abs(continued[0].learning_rate - uninterrupted[3].learning_rate / 2) < 1e-12);  // warm-up: 1 of 2 steps
        QVERIFY(std::abs(continued[1].learning_rate - uninterrupted[4].learning_rate) < 1e-12);
        QVERIFY(std::abs(continued[2].learning_rate - uninterrupted[5].learning_rate) < 1e-12);

        auto alone = tiny(root() / "start-alone", 6);
        alone.start_step = 3;  // without other weights
        QVERIFY_THROWS_EXCEPTION(Error, train(alone));
        auto past = second;
        past.output = root() / "start-past";
        past.start_step = 6;  // the schedule's end
        QVERIFY_THROWS_EXCEPTION(Error, train(past));
    }

    void theTwinHasNoStacks() {
        auto o = tiny(root() / "twin", 2);
        o.stacked = false;
        const auto result = train(o);
        const auto plan = stack_plan(result.model, 64, 64);
        QVERIFY(plan.groups.empty());
        QCOMPARE(plan.input_tokens(), std::int64_t{16});  // the global view, as for the stacked model
        const auto report = inspect_model_folder(result.model);
        QVERIFY2(report.problems.empty(), report.problems.empty() ? "" : report.problems.front().c_str());
    }

    void badBaseIsRefused() {
        auto o = tiny(root() / "bad", 2);
        o.base = testing::data_dir() / "fixtures" / "tiny-qwen3-vl";
        QVERIFY_THROWS_EXCEPTION(Error, train(o));
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestTraining)

}  // namespace test_training
#include "test_training.moc"

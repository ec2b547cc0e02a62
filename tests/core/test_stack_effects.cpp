// What the stacks change: leaving groups out at the model (equal to running with their features zeroed, on
// DeepStack-L; against transformers for Qwen3-VL in test_qwen3_vl) and through the engine (the control run
// reproduces the answer, the scores line up with what was generated, the conversation ends exactly as it was, the
// errors a user can cause, Stop); the injection map's shapes and meaning on DeepStack-L and DeepStack-V; the
// exports.
#include <QtTest>
#include "test_main.h"

#include <cmath>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "config/json_fields.h"
#include "deepstack/engine.h"
#include "deepstack/error.h"
#include "deepstack/image.h"
#include "deepstack/stack_effects.h"
#include "models/deepstack_llama/model.h"
#include "nn/stack_edit.h"
#include "prompt_inputs.h"
#include "test_files.h"
#include "vision_reuse.h"

namespace test_stack_effects {

using namespace deepstack;
using testing::greedy;
using testing::patterned_picture;

namespace {

const std::filesystem::path kFixtures = testing::data_dir() / "fixtures" / "deepstack";

std::unique_ptr<Model> load(const std::filesystem::path& folder) {
    EngineOptions options;
    options.threads = 2;
    options.compute = ComputeType::f32;
    options.context_tokens = 1024;
    return Model::load(folder, options);
}

const Message kQuestion{Message::Role::user, "What is the total?", {patterned_picture(60, 40)}};
const Message kFollowUp{Message::Role::user, "And the date?", {}};

template <typename Body>
Error error_of(Body&& body) {
    try {
        body();
    } catch (const Error& e) {
        return e;
    }
    QTest::qFail("no error was thrown", __FILE__, __LINE__);
    return Error(ErrorKind::internal, "", "none");
}

}  // namespace

class TestStackEffects : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // ---- at the model --------------------------------------------------------------------------------------------

    // DeepStack-L: a group left out gives exactly the logits of the same pass with that group's features zeroed,
    // and each group left out changes them (so the comparison can fail).
    void leavingAGroupOutEqualsZeroingItsFeatures() {
        c10::InferenceMode inference;
        const auto folder = kFixtures / "deepstack-l";
        const auto model = deepstack_llama::Model::load(folder, {c10::kFloat, c10::Device(c10::kCPU), {}});
        const auto views = deepstack_llama::make_views(patterned_picture(64, 60), model->config(), deepstack_llama::clip_preprocessing(folder, model->config()));
        const auto features = model->encode_image(views);
        const std::vector<std::int64_t> ids(40, 5);
        const auto run = [&](const deepstack_llama::ImageFeatures& f, nn::StackEdit* edit) {
            auto cache = model->new_cache(64);
            return model->forward(ids, {{&f, 10}}, cache, false, nullptr, edit);
        };
        const auto with_all = run(features, nullptr);
        const auto groups = static_cast<std::int64_t>(features.stacks.size());
        QVERIFY(groups >= 2);
        for (std::int64_t k = 0; k < groups; ++k) {
            nn::StackEdit edit({k}, false);
            const auto left_out = run(features, &edit);
            auto zeroed = features;
            zeroed.stacks[static_cast<std::size_t>(k)] = torch::zeros_like(features.stacks[static_cast<std::size_t>(k)]);
            const auto reference = run(zeroed, nullptr);
            QVERIFY2(torch::equal(left_out, reference), qPrintable(QString("group %1").arg(k)));
            if (k + model->config().deepstack_start_id < model->config().text.num_hidden_layers)
                QVERIFY2((left_out - with_all).abs().max().item<float>() > 1e-4f, qPrintable(QString("group %1 changes nothing").arg(k)));
        }
    }

    // DeepStack-V's groups join inside the vision tower: leaving one out changes the tower's output, and the measure
    // sees every group over the global view's patch tokens.
    void deepStackVEditsActInsideTheTower() {
        c10::InferenceMode inference;
        const auto folder = kFixtures / "deepstack-v";
        const auto model = deepstack_llama::Model::load(folder, {c10::kFloat, c10::Device(c10::kCPU), {}});
        const auto views = deepstack_llama::make_views(patterned_picture(64, 60), model->config(), deepstack_llama::clip_preprocessing(folder, model->config()));
        const auto with_all = model->vision_features(views.pixels);
        nn::StackEdit measure({}, true);
        QVERIFY(torch::equal(model->vision_features(views.pixels, &measure), with_all));
        QCOMPARE(measure.joins().size(), std::size_t{4});
        for (const auto& join : measure.joins()) QCOMPARE(static_cast<std::int64_t>(join.added_norm.size()), model->config().vision.num_patches());
        for (std::int64_t k = 0; k < 4; ++k) {
            nn::StackEdit edit({k}, false);
            QVERIFY((model->vision_features(views.pixels, &edit) - with_all).abs().max().item<float>() > 1e-5f);
        }
    }

    // ---- through the engine --------------------------------------------------------------------------------------

    // Leaving nothing out reproduces the answer and every score; the original answer was greedy, so each of its
    // tokens is the model's first choice where it was scored (a margin >= 0), which fails if the scores are read
    // one position off.
    void controlRunReproducesTheAnswer() {
        const auto model = load(kFixtures / "deepstack-l");
        auto chat = model->start_conversation();
        const auto answer = chat->send(kQuestion, greedy(8));
        QVERIFY(!answer.tokens.empty());
        const auto control = chat->ablate({}, greedy(8));
        QCOMPARE(control.tokens, answer.tokens);
        QCOMPARE(control.ablated_tokens, answer.tokens);
        QCOMPARE(control.first_difference(), std::int64_t{-1});
        QCOMPARE(control.changes.size(), answer.tokens.size());
        for (const auto& c : control.changes) {
            QCOMPARE(c.ablated_logprob, c.logprob);
            QCOMPARE(c.ablated_margin, c.margin);
            QVERIFY2(c.margin >= 0, qPrintable(QString("token %1 has margin %2").arg(c.token).arg(c.margin)));
            QVERIFY(c.logprob <= 0);
        }
        QCOMPARE(control.mean_logprob_change(), 0.0);
        QCOMPARE(control.flipped_tokens(), 0);
    }

    // Every group left out: the scores change, the answer without them is what a conversation with those groups'
    // features zeroed would answer, and the conversation then goes on exactly as one never looked into.
    void ablationLeavesTheConversationAsItWas() {
        const auto model = load(kFixtures / "deepstack-l");
        auto plain = model->start_conversation();
        (void)plain->send(kQuestion, greedy(8));
        const auto expected_next = plain->send(kFollowUp, greedy(8));

        auto chat = model->start_conversation();
        (void)chat->send(kQuestion, greedy(8));
        const auto context = chat->context_tokens();
        const auto plan = model->stack_plan(60, 40);
        std::vector<int> every;
        for (int g = 1; g <= static_cast<int>(plan.groups.size()); ++g) every.push_back(g);
        const auto first = chat->ablate({every, true}, greedy(8));
        QCOMPARE(first.groups, every);
        QCOMPARE(first.labels.size(), every.size());
        QVERIFY(first.mean_logprob_change() != 0.0);
        QVERIFY(first.largest_logprob_drop() <= 0.0);
        QVERIFY(!first.ablated_stop.empty());
        QCOMPARE(chat->context_tokens(), context);
        // The same ablation again gives the same numbers, bit for bit: it reran on the cache as it was.
        const auto again = chat->ablate({every, true}, greedy(8));
        QCOMPARE(again.ablated_tokens, first.ablated_tokens);
        for (std::size_t i = 0; i < first.changes.size(); ++i) QCOMPARE(again.changes[i].ablated_logprob, first.changes[i].ablated_logprob);
        const auto map = chat->measure_injections();
        QCOMPARE(chat->context_tokens(), context);
        QVERIFY(!map.groups.empty());
        QCOMPARE(chat->send(kFollowUp, greedy(8)).tokens, expected_next.tokens);
        QCOMPARE(chat->context_tokens(), plain->context_tokens());
    }

    void errorsSayWhatToDo() {
        const auto model = load(kFixtures / "deepstack-l");
        auto chat = model->start_conversation();
        auto e = error_of([&] { (void)chat->ablate({{1}, false}, greedy(4)); });
        QCOMPARE(e.kind(), ErrorKind::config);
        QVERIFY2(std::string(e.what()).find("ask a question about a picture first") != std::string::npos, e.what());
        (void)chat->send(kQuestion, greedy(4));
        const auto groups = static_cast<int>(model->stack_plan(60, 40).groups.size());
        for (const int wrong : {0, groups + 1}) {
            e = error_of([&] { (void)chat->ablate({{wrong}, false}, greedy(4)); });
            QCOMPARE(e.kind(), ErrorKind::config);
            QVERIFY2(std::string(e.what()).find("has groups 1 .. " + std::to_string(groups)) != std::string::npos, e.what());
        }
        std::atomic<bool> stop{true};
        e = error_of([&] { (void)chat->ablate({{1}, true}, greedy(4), &stop); });
        QCOMPARE(e.kind(), ErrorKind::cancelled);
        e = error_of([&] { (void)chat->measure_injections(&stop); });
        QCOMPARE(e.kind(), ErrorKind::cancelled);
        (void)chat->send(kFollowUp, greedy(4));
        e = error_of([&] { (void)chat->measure_injections(); });
        QCOMPARE(e.kind(), ErrorKind::config);
        QVERIFY2(std::string(e.what()).find("no picture") != std::string::npos, e.what());
    }

    void aModelWithoutStacksSaysSo() {
        QTemporaryDir dir;
        const std::filesystem::path twin = dir.path().toStdString();
        for (const auto& entry : std::filesystem::directory_iterator(kFixtures / "deepstack-l"))
            std::filesystem::copy(entry.path(), twin / entry.path().filename());
        auto config = config::read_json_file(twin / "config.json");
        config["deepstack_args_for_ablation"] = "nostack";
        testing::write_json(twin / "config.json", config);
        const auto model = load(twin);
        auto chat = model->start_conversation();
        (void)chat->send(kQuestion, greedy(4));
        const auto e = error_of([&] { (void)chat->ablate({{1}, false}, greedy(4)); });
        QCOMPARE(e.kind(), ErrorKind::config);
        QVERIFY2(std::string(e.what()).find("adds no stacked groups") != std::string::npos, e.what());
    }

    // The injection map on DeepStack-L: one entry per group that joins (groups past the last layer never do), one
    // number per image position; where a group joins, |added| / |hidden| and the cosine are what the measure at the
    // model gives; a group whose removal changes the logits changes the top too.
    void injectionMapOnDeepStackL() {
        const auto model = load(kFixtures / "deepstack-l");
        auto chat = model->start_conversation();
        const auto answer = chat->send(kQuestion, greedy(6));
        const auto map = chat->measure_injections();
        const auto plan = model->stack_plan(60, 40);
        QCOMPARE(map.variant, plan.variant);
        QCOMPARE(map.images.size(), std::size_t{1});
        std::size_t joining = 0;
        for (const auto& g : plan.groups) joining += g.ever_added ? 1 : 0;
        QCOMPARE(map.groups.size(), joining);
        for (const auto& g : map.groups) {
            QCOMPARE(static_cast<std::int64_t>(g.relative_change.size()), answer.image_tokens);
            QCOMPARE(static_cast<std::int64_t>(g.change_at_top.size()), answer.image_tokens);
            QCOMPARE(g.label, plan.groups[static_cast<std::size_t>(g.group - 1)].label);
            for (const auto c : g.cosine) QVERIFY(c >= -1.0001f && c <= 1.0001f);
            QVERIFY(g.mean_relative_change() > 0);
            const auto ablation = chat->ablate({{g.group}, false}, greedy(6));
            if (std::abs(ablation.mean_logprob_change()) > 1e-6) QVERIFY(g.mean_change_at_top() > 0);
        }
        // The export carries every number and the plan.
        const auto json = nlohmann::json::parse(injection_map_json(map));
        QCOMPARE(json.at("groups").size(), map.groups.size());
        QCOMPARE(json.at("groups")[0].at("relative_change").size(), map.groups[0].relative_change.size());
        QCOMPARE(json.at("images")[0].at("plan").at("variant").get<std::string>(), plan.variant);
    }

    // The vision pass is kept for the next question about the same picture; DeepStack-V keeps its views too, which
    // the measurement encodes again with each group left out.
    void samePictureReusesTheVisionPass() {
        testing::check_vision_pass_reused_for_the_same_picture_only(*load(kFixtures / "deepstack-l"), patterned_picture(60, 40));
        if (QTest::currentTestFailed()) return;
        testing::check_vision_pass_reused_for_the_same_picture_only(*load(kFixtures / "deepstack-v"), patterned_picture(60, 40));
    }

    void injectionMapOnDeepStackV() {
        const auto model = load(kFixtures / "deepstack-v");
        auto chat = model->start_conversation();
        const auto answer = chat->send(kQuestion, greedy(4));
        const auto map = chat->measure_injections();
        QCOMPARE(map.variant, std::string("DeepStack-V"));
        QCOMPARE(map.groups.size(), std::size_t{4});
        for (const auto& g : map.groups) {
            QCOMPARE(g.tower, Tower::vision);
            QCOMPARE(static_cast<std::int64_t>(g.relative_change.size()), answer.image_tokens);  // the global view's patches
            QCOMPARE(static_cast<std::int64_t>(g.change_at_top.size()), answer.image_tokens);
        }
        const auto ablation = chat->ablate({{1, 2, 3, 4}, true}, greedy(4));
        QVERIFY(ablation.mean_logprob_change() != 0.0);
    }

    // The JSON export has the tokens of both answers and one entry per scored token.
    void ablationExport() {
        Ablation a;
        a.groups = {2};
        a.labels = {"group 2 of 4"};
        a.tokens = {5, 6, 7};
        a.ablated_tokens = {5, 9};
        a.changes = {{5, "a", -0.1, -0.2, 2.0, 1.0}, {6, "b", -0.5, -2.5, 0.5, -1.0}, {7, "c", -1.0, -1.0, 0.1, 0.1}};
        QCOMPARE(a.first_difference(), std::int64_t{1});
        QCOMPARE(a.flipped_tokens(), 1);
        QVERIFY(std::abs(a.mean_logprob_change() - (-0.1 - 2.0 + 0.0) / 3) < 1e-12);
        QCOMPARE(a.largest_logprob_drop(), -2.0);
        const auto json = nlohmann::json::parse(ablation_json(a));
        QCOMPARE(json.at("tokens").get<std::vector<int>>(), (std::vector<int>{5, 6, 7}));
        QCOMPARE(json.at("ablated_tokens").get<std::vector<int>>(), (std::vector<int>{5, 9}));
        QCOMPARE(json.at("changes").size(), std::size_t{3});
        QCOMPARE(json.at("changes")[1].at("flipped").get<bool>(), true);
        QCOMPARE(json.at("first_difference").get<int>(), 1);
        Ablation same = a;
        same.ablated_tokens = a.tokens;
        QCOMPARE(same.first_difference(), std::int64_t{-1});
        same.ablated_tokens = {5, 6};  // a shorter answer differs where it ends
        QCOMPARE(same.first_difference(), std::int64_t{2});
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestStackEffects)

}  // namespace test_stack_effects
#include "test_stack_effects.moc"

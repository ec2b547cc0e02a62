// The engine end to end on a tiny random Qwen3-VL built on the fly with the real Qwen3 tokenizer: streaming,
// stopping, multi-turn with the cache, seeds, sampling rules, and the errors a user can cause.
#include <QTemporaryDir>
#include <QtTest>
#include "test_main.h"

#include <cmath>
#include <chrono>
#include <functional>
#include <thread>

#include <torch/types.h>

#include "config/json_fields.h"
#include "deepstack/engine.h"
#include "deepstack/error.h"
#include "deepstack/inspect.h"
#include "deepstack/system.h"
#include "engine/family.h"
#include "engine/sampling.h"
#include "nn/blocks.h"
#include "models/qwen3_vl/architecture.h"
#include "prompt_inputs.h"
#include "test_files.h"
#include "tiny_folders.h"
#include "vision_reuse.h"

namespace test_engine {

using namespace deepstack;
using testing::greedy;
using testing::patterned_picture;

namespace {

// A Qwen3-VL with the real vocabulary and special token ids but every width tiny, random bf16 weights.
void write_random_qwen(const std::filesystem::path& folder) {
    std::filesystem::create_directories(folder);
    auto config = config::read_json_file(testing::data_dir() / "configs" / "qwen3-vl-2b-instruct.config.json");
    auto& t = config["text_config"];
    t["hidden_size"] = 32, t["intermediate_size"] = 48, t["num_hidden_layers"] = 3, t["num_attention_heads"] = 2,
    t["num_key_value_heads"] = 1, t["head_dim"] = 16;
    t["rope_scaling"]["mrope_section"] = {4, 2, 2};
    auto& v = config["vision_config"];
    v["depth"] = 3, v["hidden_size"] = 16, v["intermediate_size"] = 32, v["num_heads"] = 2, v["out_hidden_size"] = 32,
    v["deepstack_visual_indexes"] = {0, 1, 2};
    testing::write_json(folder / "config.json", config);
    testing::write_json(folder / "generation_config.json", {{"eos_token_id", {151645, 151643}}, {"do_sample", true}, {"temperature", 0.7}, {"top_k", 20}, {"top_p", 0.8}});
    std::filesystem::copy_file(testing::qwen3_tokenizer_dir() / "tokenizer.json", folder / "tokenizer.json");
    const auto arch = qwen3_vl::describe(qwen3_vl::parse_config(config::Fields(config, "config.json")));
    torch::manual_seed(7);
    std::vector<torch::Tensor> keep;
    std::vector<TensorToWrite> tensors;
    for (const auto& spec : arch.tensors) {
        if (spec.optional) continue;
        keep.push_back((torch::randn(spec.shape) * 0.5).to(torch::kBFloat16).contiguous());
        tensors.push_back({spec.name, DType::bf16, spec.shape, {static_cast<const std::byte*>(keep.back().data_ptr()), static_cast<std::size_t>(keep.back().nbytes())}});
    }
    write_safetensors(folder / "model.safetensors", tensors);
}

}  // namespace

class TestEngine : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::filesystem::path folder_;
    std::unique_ptr<Model> model_;

private Q_SLOTS:
    void initTestCase() {
        folder_ = std::filesystem::path(dir_.path().toStdString()) / "tiny-qwen3-vl";
        write_random_qwen(folder_);
        EngineOptions options;
        options.threads = 2;
        options.context_tokens = 1024;
        options.min_image_pixels = 32 * 32 * 4;
        options.max_image_pixels = 128 * 128;
        model_ = Model::load(folder_, options);
    }

    void info() {
        QCOMPARE(model_->info().family, std::string("qwen3_vl"));
        QCOMPARE(model_->info().compute, std::string(resolve_compute(ComputeType::automatic, DeviceKind::cpu) == ComputeType::bf16 ? "bf16" : "f32"));
        const auto defaults = model_->default_sampling();
        QCOMPARE(defaults.temperature, 0.7);
        QCOMPARE(defaults.top_k, std::int64_t{20});
    }

    // A conversation holds at most the window the model was trained for (DeepStack-L's tokenizer_model_max_length,
    // 1024 in the tiny folder; Qwen3-VL's max_position_embeddings), whatever context is asked for; less is kept.
    void contextIsAtMostTheTrainedWindow() {
        const auto folder = std::filesystem::path(dir_.path().toStdString()) / "tiny-deepstack-l";
        testing::write_tiny_folder(folder, testing::tiny_deepstack_llama_config());
        QCOMPARE(inspect_model_folder(folder).longest_context_tokens, std::int64_t{1024});
        QCOMPARE(inspect_model_folder(folder_).longest_context_tokens, std::int64_t{262144});
        for (const auto& [asked, held] : {std::pair<std::int64_t, std::int64_t>{4096, 1024}, {512, 512}}) {
            EngineOptions options;
            options.threads = 2;
            options.context_tokens = asked;
            const auto model = Model::load(folder, options);
            QCOMPARE(model->info().context_tokens, held);
            QCOMPARE(model->start_conversation("")->context_capacity(), held);
        }
    }

    void streamsWhatItReturns() {
        auto chat = model_->start_conversation("You are terse.");
        std::string streamed;
        std::vector<TokenId> tokens;
        const auto result = chat->send({Message::Role::user, "What is in this picture?", {patterned_picture(96, 64)}}, greedy(12),
                                       {[&](std::string_view text) { streamed += text; }, [&](TokenId token) { tokens.push_back(token); }});
        QCOMPARE(streamed, result.text);
        QCOMPARE(tokens, result.tokens);
        QVERIFY(result.tokens.size() <= 12);
        QCOMPARE(result.image_tokens, std::int64_t{6});  // 96x64 -> 3x2 merged tokens
        QVERIFY(result.vision_ms > 0 && result.prefill_ms > 0 && result.time_to_first_token_ms > 0);
        QCOMPARE(result.decode_ms.size() + 1 >= result.tokens.size(), true);
        QCOMPARE(chat->context_tokens(), result.context_tokens);
    }

    void multiTurnReusesTheCacheAndIsDeterministic() {
        bool cache_reused = true;
        auto run = [&] {
            auto chat = model_->start_conversation();
            const auto first = chat->send({Message::Role::user, "Read the total.", {patterned_picture(64, 64)}}, greedy(6));
            const auto before = chat->context_tokens();
            const auto second = chat->send({Message::Role::user, "And the date?", {}}, greedy(6));
            // The second turn ran only its own tokens on top of the first.
            cache_reused = cache_reused && second.prompt_tokens < 20 &&
                           chat->context_tokens() == before + second.prompt_tokens + static_cast<std::int64_t>(second.tokens.size());
            auto all = first.tokens;
            all.push_back(-1);
            all.insert(all.end(), second.tokens.begin(), second.tokens.end());
            return all;
        };
        QCOMPARE(run(), run());
        QVERIFY(cache_reused);
    }

    void rewindAsksAgainFromWhereTheQuestionBegan() {
        auto chat = model_->start_conversation("Be brief.");
        const Message first{Message::Role::user, "Read the total.", {patterned_picture(64, 64)}};
        const Message second{Message::Role::user, "And the date?", {}};
        const auto a = chat->send(first, greedy(5));
        const auto after_first = chat->context_tokens();
        const auto b = chat->send(second, greedy(5));
        QCOMPARE(chat->turns(), std::size_t{2});

        chat->rewind(1);  // regenerate the second answer
        QCOMPARE(chat->turns(), std::size_t{1});
        QCOMPARE(chat->context_tokens(), after_first);
        QCOMPARE(chat->send(second, greedy(5)).tokens, b.tokens);

        chat->rewind(0);  // edit the first question: the system prompt and image come back with it
        QCOMPARE(chat->context_tokens(), std::int64_t{0});
        QCOMPARE(chat->send(first, greedy(5)).tokens, a.tokens);
        chat->rewind(7);  // past the end: nothing to forget
        QCOMPARE(chat->turns(), std::size_t{1});
    }

    void replayedConversationContinuesAsTheLiveOne() {
        const Message first{Message::Role::user, "What is this?", {patterned_picture(64, 96)}};
        const Message second{Message::Role::user, "Say more.", {}};
        auto live = model_->start_conversation("Be brief.");
        const auto a = live->send(first, greedy(6));
        const auto b = live->send(second, greedy(6));

        auto restored = model_->start_conversation("Be brief.");
        restored->replay(first, a.text, a.tokens);
        QCOMPARE(restored->turns(), std::size_t{1});
        const auto again = restored->send(second, greedy(6));
        QCOMPARE(again.tokens, b.tokens);
        QCOMPARE(restored->context_tokens(), live->context_tokens());

        // Without the tokens (another model wrote the reply) the text is encoded; the conversation still runs.
        auto from_text = model_->start_conversation();
        from_text->replay({Message::Role::user, "Hello", {}}, "Hello! How can I help?");
        QCOMPARE(from_text->turns(), std::size_t{1});
        QVERIFY(!from_text->send(second, greedy(3)).tokens.empty());
    }

    void loadReportsProgressAndCanBeAbandoned() {
        EngineOptions options;
        options.context_tokens = 64;
        std::vector<double> seen;
        options.on_load_progress = [&](double fraction) { seen.push_back(fraction); };
        (void)Model::load(folder_, options);
        QVERIFY(seen.size() > 10);  // one step per tensor
        QCOMPARE(seen.front(), 0.0);
        QCOMPARE(seen.back(), 1.0);
        QVERIFY(std::is_sorted(seen.begin(), seen.end()));

        options.on_load_progress = [](double fraction) {
            if (fraction > 0.5) throw Error(ErrorKind::cancelled, "", "stopped by the user");
        };
        try {
            (void)Model::load(folder_, options);
            QFAIL("the load went on after it was abandoned");
        } catch (const Error& e) {
            QCOMPARE(e.kind(), ErrorKind::cancelled);
        }
    }

    void seedsDecide() {
        auto sample = [&](std::uint64_t seed) {
            SamplingSettings s = greedy(16);
            s.temperature = 1.5;
            s.seed = seed;
            return model_->start_conversation()->send({Message::Role::user, "Say anything.", {}}, s).tokens;
        };
        QCOMPARE(sample(11), sample(11));
        QVERIFY(sample(11) != sample(12));
    }

    // Qwen3-VL's attention capture: the plan's tokens are the image's tokens (MRoPE, merged grid), every row is a
    // whole softmax, the three DeepStack groups enter after layers 0, 1, 2, and the chat goes on as if unobserved.
    void attentionCaptureOnQwen() {
        const Message question{Message::Role::user, "Read the total.", {patterned_picture(96, 64)}};
        const Message follow_up{Message::Role::user, "And the date?", {}};
        auto plain = model_->start_conversation();
        (void)plain->send(question, greedy(5));
        const auto expected = plain->send(follow_up, greedy(5));

        auto chat = model_->start_conversation();
        const auto answer = chat->send(question, greedy(5));
        const auto capture = chat->capture_attention({});
        QCOMPARE(capture.variant, std::string("Qwen3-VL"));
        QCOMPARE(capture.visual_tokens, answer.image_tokens);
        QCOMPARE(capture.images.at(0).plan.input_rows * capture.images.at(0).plan.input_columns, answer.image_tokens);
        QCOMPARE(capture.layers.size(), std::size_t{3});
        QCOMPARE(capture.heads, std::int64_t{2});
        QCOMPARE(capture.queries_of(AttentionQuery::Kind::answer).size(), answer.tokens.size());
        for (std::int64_t l = 0; l < 3; ++l) QCOMPARE(capture.images[0].plan.group_seen_first_at(l + 1)->layer, l);
        const auto width = static_cast<std::size_t>(capture.visual_tokens);
        for (std::size_t cell = 0; cell < capture.elsewhere.size(); ++cell) {
            double sum = capture.elsewhere[cell];
            for (std::size_t v = 0; v < width; ++v) sum += capture.visual[cell * width + v];
            QVERIFY2(std::abs(sum - 1.0) < 1e-3, qPrintable(QString("row %1 sums to %2").arg(cell).arg(sum)));
        }
        QCOMPARE(chat->send(follow_up, greedy(5)).tokens, expected.tokens);
    }

    // The stack views through the engine on Qwen3-VL (whose three groups join after layers 0, 1, 2): leaving none
    // out reproduces the answer, each group left out changes the scores, the injection map has the three groups
    // over the image tokens, and the conversation goes on as one never looked into.
    void stackAblationAndInjectionMapOnQwen() {
        const Message question{Message::Role::user, "Read the total.", {patterned_picture(96, 64)}};
        const Message follow_up{Message::Role::user, "And the date?", {}};
        auto plain = model_->start_conversation();
        (void)plain->send(question, greedy(6));
        const auto expected = plain->send(follow_up, greedy(6));

        auto chat = model_->start_conversation();
        const auto answer = chat->send(question, greedy(6));
        const auto control = chat->ablate({}, greedy(6));
        QCOMPARE(control.ablated_tokens, answer.tokens);
        for (const auto& c : control.changes) QVERIFY(c.margin >= 0 && c.ablated_logprob == c.logprob);
        double moved = 0;
        for (int g = 1; g <= 3; ++g) moved += std::abs(chat->ablate({{g}, false}, greedy(6)).mean_logprob_change());
        QVERIFY(moved > 0);
        const auto map = chat->measure_injections();
        QCOMPARE(map.variant, std::string("Qwen3-VL"));
        QCOMPARE(map.groups.size(), std::size_t{3});
        for (std::size_t g = 0; g < 3; ++g) {
            QCOMPARE(map.groups[g].layer, static_cast<std::int64_t>(g));
            QVERIFY(!map.groups[g].before_layer);
            QCOMPARE(static_cast<std::int64_t>(map.groups[g].relative_change.size()), answer.image_tokens);
            QCOMPARE(static_cast<std::int64_t>(map.groups[g].change_at_top.size()), answer.image_tokens);
        }
        QCOMPARE(chat->send(follow_up, greedy(6)).tokens, expected.tokens);
    }

    void samePictureReusesTheVisionPass() {
        testing::check_vision_pass_reused_for_the_same_picture_only(*model_, patterned_picture(72, 56));
    }

    void stopTakesEffectWithinOneStep() {
        auto chat = model_->start_conversation();
        std::atomic<bool> stop{false};
        int pieces = 0;
        const auto result = chat->send({Message::Role::user, "Count to a thousand.", {}}, greedy(200),
                                       {[&](std::string_view) {
                                           ++pieces;
                                           stop = true;
                                       },
                                       {}},
                                       &stop);
        QCOMPARE(result.stop, StopReason::cancelled);
        QVERIFY2(result.tokens.size() <= 4, std::to_string(result.tokens.size()).c_str());  // a piece may need 2-3 byte tokens
        // The conversation stays usable after a stop.
        stop = false;
        const auto next = chat->send({Message::Role::user, "Go on.", {}}, greedy(3), {}, &stop);
        QCOMPARE(next.stop, StopReason::max_tokens);
    }

    void stopFromAnotherThread() {
        auto chat = model_->start_conversation();
        std::atomic<bool> stop{false};
        std::atomic<int> steps{0};
        std::thread stopper([&] {
            while (steps.load() < 3) std::this_thread::yield();
            stop = true;
        });
        const auto result = chat->send({Message::Role::user, "Talk.", {}}, greedy(500), {[&](std::string_view) { ++steps; }, {}}, &stop);
        stopper.join();
        QCOMPARE(result.stop, StopReason::cancelled);
        QVERIFY(result.tokens.size() < 500);
    }

    // Stop during a picture's vision pass (seconds long here: a 2048x2048 picture at full budget) returns within a
    // second, and the conversation is as it was before the question: no turn, an empty context, and the next
    // question answered as a fresh conversation answers it.
    void stopDuringTheVisionPassLeavesTheConversationAsItWas() {
        EngineOptions options;
        options.threads = 2;
        options.context_tokens = 8192;
        options.max_image_pixels = 2048 * 2048;
        const auto big = Model::load(folder_, options);
        auto chat = big->start_conversation();
        std::atomic<bool> stop{false};
        std::chrono::steady_clock::time_point asked;
        std::thread stopper([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(400));
            asked = std::chrono::steady_clock::now();
            stop = true;
        });
        const auto result = chat->send({Message::Role::user, "What is this?", {patterned_picture(2048, 2048)}}, greedy(5), {}, &stop);
        const auto returned = std::chrono::steady_clock::now();
        stopper.join();
        const auto waited = std::chrono::duration<double>(returned - asked).count();
        QCOMPARE(result.stop, StopReason::cancelled);
        QVERIFY(result.tokens.empty());
        QVERIFY2(waited < 1.0, qPrintable(QString("stop took %1 s").arg(waited)));
        QCOMPARE(chat->turns(), std::size_t{0});
        QCOMPARE(chat->context_tokens(), std::int64_t{0});
        qInfo("stopped %.0f ms after Stop", waited * 1000);

        stop = false;
        const Message question{Message::Role::user, "And now?", {patterned_picture(64, 64)}};
        const auto after = chat->send(question, greedy(6), {}, &stop);
        const auto fresh = big->start_conversation()->send(question, greedy(6), {}, &stop);
        QCOMPARE(after.tokens, fresh.tokens);
    }

    // Soak: 200 questions in one conversation, then 200 conversations of one question about a picture each. After
    // a warm-up of 20, resident memory stays flat: a cache kept per conversation (about 200 KB here) or a turn's
    // tensors kept per question would grow it by tens of megabytes.
    void residentMemoryStaysFlatOver200Questions() {
        EngineOptions options;
        options.threads = 2;
        options.context_tokens = 4096;
        options.min_image_pixels = 32 * 32 * 4;
        options.max_image_pixels = 64 * 64;
        const auto model = Model::load(folder_, options);
        const auto picture = patterned_picture(64, 64);
        const auto soak = [&](const std::function<void(int)>& ask) {
            for (int i = 0; i < 20; ++i) ask(i);
            const auto warm = resident_memory_bytes();
            for (int i = 20; i < 200; ++i) ask(i);
            return std::pair{warm, resident_memory_bytes()};
        };
        auto chat = model->start_conversation();
        const auto one = soak([&](int i) {
            const auto reply = chat->send({Message::Role::user, "Question " + std::to_string(i) + "?", i == 0 ? std::vector<RgbImage>{picture} : std::vector<RgbImage>{}},
                                          greedy(2));
            QVERIFY(!reply.tokens.empty());
        });
        QCOMPARE(chat->turns(), std::size_t{200});
        const auto many = soak([&](int) {
            auto conversation = model->start_conversation();
            QVERIFY(!conversation->send({Message::Role::user, "What is this?", {picture}}, greedy(2)).tokens.empty());
        });
        constexpr std::int64_t kSlack = 8 << 20;  // the allocator's own growth, measured at under 2 MB
        const auto grew = [](const std::pair<std::uint64_t, std::uint64_t>& p) { return static_cast<std::int64_t>(p.second) - static_cast<std::int64_t>(p.first); };
        qInfo("resident memory grew %lld bytes over 180 questions in one conversation, %lld over 180 conversations",
              static_cast<long long>(grew(one)), static_cast<long long>(grew(many)));
        QVERIFY(one.first > 0 && many.first > 0);
        QVERIFY2(grew(one) < kSlack && grew(many) < kSlack, "resident memory grew past the allocator's slack");
    }

    void contextLimitIsAClearError() {
        EngineOptions options;
        options.context_tokens = 24;
        const auto small = Model::load(folder_, options);
        Message long_question;
        long_question.role = Message::Role::user;
        long_question.text.assign(200, 'a');
        long_question.text.append(" is a long question.");  // (operator+ here trips GCC 12's -Warray-bounds)
        try {
            (void)small->start_conversation()->send(long_question, greedy(4));
            QFAIL("a prompt larger than the context was accepted");
        } catch (const Error& e) {
            QCOMPARE(e.kind(), ErrorKind::resources);
            QVERIFY2(std::string(e.what()).find("are left in the conversation's context of 24") != std::string::npos, e.what());
        }
    }

    // A picture whose tokens cannot fit is refused before the vision pass (which, for a 300-dpi page at the
    // model's own budget, took minutes and 24 GB before this check), and the conversation stays as it was.
    void pictureTooLargeForTheContextIsRefusedBeforeTheVisionPass() {
        EngineOptions options;
        options.threads = 2;
        options.context_tokens = 300;
        options.max_image_pixels = 1 << 20;  // 1024 tokens
        const auto small = Model::load(folder_, options);
        auto chat = small->start_conversation();
        (void)chat->send({Message::Role::user, "Hello.", {}}, greedy(2));
        const auto before = chat->context_tokens();
        try {
            (void)chat->send({Message::Role::user, "What is on this page?", {patterned_picture(2480, 3508)}}, greedy(4));
            QFAIL("a picture larger than the context was accepted");
        } catch (const Error& e) {
            QCOMPARE(e.kind(), ErrorKind::resources);
            const std::string message = e.what();
            QVERIFY2(message.find("the picture becomes") != std::string::npos && message.find("tokens at the picture budget of 1048576 pixels") != std::string::npos &&
                         message.find("context has room for") != std::string::npos,
                     e.what());
        }
        QCOMPARE(chat->turns(), std::size_t{1});
        QCOMPARE(chat->context_tokens(), before);
    }

    // Checks made before large allocations, met on a machine short of memory: the model's load and a picture's
    // vision pass are refused with the sizes in the message, and the conversation is as it was.
    void tooLittleMemoryIsRefusedBeforeAllocating() {
        EngineOptions options;
        options.threads = 2;
        options.context_tokens = 1024;
        {
            const ScopedAvailableMemory scarce(1 << 20);
            try {
                (void)Model::load(folder_, options);
                QFAIL("a model larger than the free memory was loaded");
            } catch (const Error& e) {
                QCOMPARE(e.kind(), ErrorKind::resources);
                const std::string message = e.what();
                QVERIFY2(message.find("of memory (weights") != std::string::npos && message.find("but only 1.05 MB is available") != std::string::npos, e.what());
            }
        }
        auto chat = model_->start_conversation();
        (void)chat->send({Message::Role::user, "Hello.", {}}, greedy(2));
        const auto before = chat->context_tokens();
        const Message question{Message::Role::user, "What is this?", {patterned_picture(128, 128)}};
        {
            const ScopedAvailableMemory scarce(1 << 20);
            try {
                (void)chat->send(question, greedy(4));
                QFAIL("a vision pass larger than the free memory was run");
            } catch (const Error& e) {
                QCOMPARE(e.kind(), ErrorKind::resources);
                QVERIFY2(std::string(e.what()).find("the vision pass over") != std::string::npos, e.what());
            }
        }
        QCOMPARE(chat->turns(), std::size_t{1});
        QCOMPARE(chat->context_tokens(), before);
        (void)chat->send(question, greedy(4));  // with the memory back, the same question is answered
        QCOMPARE(chat->turns(), std::size_t{2});
    }

    // The budget a model runs with when none is asked for: the model's maximum on a GPU, 1 M pixels per 2 cores
    // on the CPU (at most 4 M), never above the folder's own maximum; a budget asked for is kept.
    void automaticPictureBudget() {
        QCOMPARE(automatic_image_pixels(DeviceKind::cpu, 2), std::int64_t{1} << 20);
        QCOMPARE(automatic_image_pixels(DeviceKind::cpu, 1), std::int64_t{1} << 20);
        QCOMPARE(automatic_image_pixels(DeviceKind::cpu, 6), std::int64_t{3} << 20);
        QCOMPARE(automatic_image_pixels(DeviceKind::cpu, 64), std::int64_t{4} << 20);
        QCOMPARE(automatic_image_pixels(DeviceKind::cuda, 2), std::int64_t{16777216});
        EngineOptions options;
        options.threads = 2;
        options.context_tokens = 2048;
        const auto automatic = Model::load(folder_, options);
        QCOMPARE(automatic->info().max_image_pixels, std::int64_t{1} << 20);
        // A 12-megapixel phone photo becomes at most 1024 tokens, and the stack plan agrees with what runs.
        const auto plan = automatic->stack_plan(4000, 3000);
        QVERIFY2(plan.input_tokens() <= 1024 && plan.input_tokens() > 900, qPrintable(QString::number(plan.input_tokens())));
        auto chat = automatic->start_conversation();
        const auto result = chat->send({Message::Role::user, "Describe the photo.", {patterned_picture(4000, 3000)}}, greedy(2));
        QCOMPARE(result.image_tokens, plan.input_tokens());
        QCOMPARE(model_->info().max_image_pixels, std::int64_t{128 * 128});
    }

    // Attention in blocks of queries (what keeps a vision pass over tens of thousands of patches from holding a
    // patches x patches matrix) computes what one block computes, with and without the causal mask and GQA.
    void attentionInBlocksEqualsOneBlock() {
        c10::InferenceMode guard;
        torch::manual_seed(3);
        const auto q = torch::randn({4, 37, 8}), k = torch::randn({2, 45, 8}), v = torch::randn({2, 45, 8});
        for (const auto causal : {std::optional<std::int64_t>{}, std::optional<std::int64_t>{8}}) {
            const auto whole = nn::attention(q, k, v, 0.3, causal);
            const auto blocks = nn::attention(q, k, v, 0.3, causal, /*score_bytes=*/4 * 45 * 4 * 5);  // 5 queries a block
            QCOMPARE(blocks.sizes(), whole.sizes());
            QVERIFY2((blocks - whole).abs().max().item<double>() < 1e-5, qPrintable(QString::number((blocks - whole).abs().max().item<double>())));
        }
        // A first prefill (no earlier keys; the fused causal kernel on LibTorch 2) equals softmax attention with
        // the causal mask written out.
        const auto square = nn::attention(q, q.narrow(0, 0, 2), v.narrow(1, 0, 37), 0.3, std::int64_t{0});
        const auto keys = q.narrow(0, 0, 2).repeat_interleave(2, 0), values = v.narrow(1, 0, 37).repeat_interleave(2, 0);
        const auto scores = torch::matmul(q, keys.transpose(1, 2)).mul(0.3).masked_fill(torch::ones({37, 37}).triu(1).to(torch::kBool), -INFINITY);
        const auto expected = torch::matmul(torch::softmax(scores, -1), values);
        QVERIFY2((square - expected).abs().max().item<double>() < 1e-5, qPrintable(QString::number((square - expected).abs().max().item<double>())));
        // The causal rows really are causal: the first query sees the first 9 keys only.
        const auto first = nn::attention(q.narrow(1, 0, 1), k.narrow(1, 0, 9), v.narrow(1, 0, 9), 0.3, std::nullopt);
        const auto blocked = nn::attention(q, k, v, 0.3, std::int64_t{8}, 4 * 45 * 4 * 5).narrow(1, 0, 1);
        QVERIFY((first - blocked).abs().max().item<double>() < 1e-5);
    }

    // A turn carries its family's state: running it on another family's session is a clear error.
    void turnOfAnotherFamilyIsRefused() {
        struct Mine final : engine::FamilyTurnState {
            int value = 7;
        };
        struct Theirs final : engine::FamilyTurnState {};
        engine::PreparedTurn turn;
        turn.state = std::make_shared<Mine>();
        QCOMPARE(engine::state_of<Mine>(turn).value, 7);
        try {
            (void)engine::state_of<Theirs>(turn);
            QFAIL("another family's turn state was accepted");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("prepared by another model's session") != std::string::npos, e.what());
        }
    }

    void brokenFoldersAreRefusedBeforeLoading() {
        try {
            (void)Model::load(testing::data_dir() / "fixtures" / "tiny-qwen3-vl");  // no tokenizer there
            QFAIL("a folder without tokenizer loaded");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("no tokenizer") != std::string::npos, e.what());
        }
    }

    void samplerRules() {
        c10::InferenceMode guard;
        const auto logits = torch::tensor({1.0f, 3.0f, 2.0f, -1.0f});
        SamplingSettings s;
        QCOMPARE(engine::Sampler(s).next(logits, {}, {}), TokenId{1});
        s.repetition_penalty = 4.0;  // 3 / 4 < 2: the seen token loses
        QCOMPARE(engine::Sampler(s).next(logits, {1}, {}), TokenId{2});
        s = {};
        s.presence_penalty = 2.5;
        QCOMPARE(engine::Sampler(s).next(logits, {}, {1}), TokenId{2});
        s = {};
        s.temperature = 1.0;
        s.top_k = 1;
        for (int seed = 0; seed < 5; ++seed) {
            s.seed = static_cast<std::uint64_t>(seed);
            QCOMPARE(engine::Sampler(s).next(logits, {}, {}), TokenId{1});
        }
        s.top_k = 0;
        s.top_p = 0.01;
        QCOMPARE(engine::Sampler(s).next(logits, {}, {}), TokenId{1});
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestEngine)

}  // namespace test_engine
#include "test_engine.moc"

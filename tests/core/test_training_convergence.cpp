// What the trainer teaches the tiny DeepStack-L fixture, which takes minutes of training rather than seconds (CTest
// label `slow`; test_training checks the trainer's bookkeeping in seconds): two pages read out over and over are
// each read from their own picture; one page over and over is learned far sooner than new pages.
#include <QTemporaryDir>
#include <QtTest>
#include "test_main.h"

#include <string>
#include <vector>

#include "deepstack/engine.h"
#include "deepstack/error.h"
#include "deepstack/synthetic.h"
#include "deepstack/training.h"
#include "tiny_training.h"

namespace test_training_convergence {

using namespace deepstack;
using testing::tiny_training;

class TestTrainingConvergence : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    std::filesystem::path root() const { return dir_.path().toStdString(); }

private Q_SLOTS:
    // test_training's lossFalls shows the loss falls; in 40 steps on new pages that is mostly the answers' format,
    // which needs no picture. Here two pages are read out over and over (the same question, "Read the page.", with different
    // answers): learning both transcripts needs each page's picture, so after training each transcript must be
    // likelier under its own picture than under the other page's.
    void memorisedReadingsNeedTheirPicture() {
        // 300 steps: at 200 the tiny model still reads both transcripts alike under either picture (a 50/50 guess
        // where they part), at 300 each has its own (measured: -0.02 against -8.7 nats).
        auto o = tiny_training(root() / "two-pages", 300);
        o.distinct_pages = 2;
        o.reading_turn = true;
        o.questions_per_page = 1;
        const auto result = train(o);
        EngineOptions engine;
        engine.threads = 2;
        engine.context_tokens = 512;
        const auto model = Model::load(result.model, engine);
        std::vector<SyntheticPage> pages;
        for (std::uint64_t i = 0; i < 2; ++i) pages.push_back(synthetic_page(SyntheticSplit::train, i, o.pages));
        QVERIFY(pages[0].reading.answer != pages[1].reading.answer);
        // The transcript's log-likelihood, teacher-forced through the engine (a control run of the ablation).
        const auto log_likelihood = [&](const SyntheticPage& picture, const SyntheticPage& text) {
            auto chat = model->start_conversation();
            chat->replay({Message::Role::user, text.reading.question, {picture.image}}, text.reading.answer);
            AblationRequest control;
            control.answer_again = false;
            double sum = 0;
            for (const auto& change : chat->ablate(control, SamplingSettings{}).changes) sum += change.logprob;
            return sum;
        };
        for (std::size_t i = 0; i < 2; ++i) {
            const auto own = log_likelihood(pages[i], pages[i]), other = log_likelihood(pages[1 - i], pages[i]);
            QVERIFY2(own > other + 3.0, qPrintable(QString("page %1: %2 nats with its picture, %3 with the other's").arg(i).arg(own).arg(other)));
        }
    }

    // --distinct-pages: one page over and over is learned by heart, far sooner than new pages every step; and a
    // run's checkpoint is its own.
    void distinctPagesCycle() {
        const auto final_loss = [&](const std::string& name, std::int64_t distinct) {
            auto o = tiny_training(root() / name, 100);
            o.distinct_pages = distinct;
            std::vector<double> losses;
            o.on_progress = [&](const TrainingProgress& p) { losses.push_back(p.loss); };
            train(o);
            return (losses[97] + losses[98] + losses[99]) / 3;
        };
        const auto repeated = final_loss("cycle", 1), fresh = final_loss("fresh", 0);
        QVERIFY2(repeated < 0.5 * fresh, (std::to_string(repeated) + " vs " + std::to_string(fresh)).c_str());
        auto other = tiny_training(root() / "cycle", 100);
        other.distinct_pages = 2;
        other.on_progress = {};
        QVERIFY_THROWS_EXCEPTION(Error, train(other));
    }

};

DEEPSTACK_TEST_GUILESS_MAIN(TestTrainingConvergence)

}  // namespace test_training_convergence
#include "test_training_convergence.moc"

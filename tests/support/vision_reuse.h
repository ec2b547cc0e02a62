// The check that a model reuses its vision pass only for the very same pictures, shared by the families' suites.
#pragma once

#include <QtTest>

#include "deepstack/engine.h"
#include "deepstack/stack_effects.h"

namespace deepstack::testing {

// A new conversation about `picture` after one about the same picture skips the vision pass and measures every
// stacked group exactly as a fresh pass does; one changed pixel makes another picture, encoded afresh, whose
// groups measure differently (so the comparison can fail). Leaves the model's recent picture as `picture`.
inline void check_vision_pass_reused_for_the_same_picture_only(Model& model, const RgbImage& picture) {
    const auto ask = [&](const RgbImage& shown, bool expect_reused, std::vector<std::vector<float>>& changes) {
        SamplingSettings greedy;
        greedy.max_new_tokens = 3;
        auto chat = model.start_conversation();
        const auto answer = chat->send({Message::Role::user, "What is the total?", {shown}}, greedy);
        QCOMPARE(answer.vision_reused, expect_reused);
        changes.clear();
        for (const auto& group : chat->measure_injections().groups) changes.push_back(group.relative_change);
        QVERIFY(!changes.empty());
    };
    auto changed = picture;
    changed.pixels[changed.pixels.size() / 2] ^= 0x80;

    std::vector<std::vector<float>> fresh, reused, other, again;
    ask(changed, false, other);  // whatever the model saw before, this picture is new to it
    if (QTest::currentTestFailed()) return;
    ask(picture, false, fresh);
    if (QTest::currentTestFailed()) return;
    ask(picture, true, reused);
    if (QTest::currentTestFailed()) return;
    QVERIFY(reused == fresh);
    QVERIFY(other != fresh);
    ask(changed, false, again);
    if (QTest::currentTestFailed()) return;
    QVERIFY(again == other);
    ask(picture, false, again);
    if (QTest::currentTestFailed()) return;
    QVERIFY(again == fresh);
}

}  // namespace deepstack::testing

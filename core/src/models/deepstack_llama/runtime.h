// The DeepStack LLaVA family as the engine runs it: the vicuna_v1 template, the <image> splice (BOS only on the
// first chunk), views to features, prefill with the stacks, decode without. Internal.
#pragma once

#include <memory>

#include "deepstack/engine.h"
#include "engine/family.h"
#include "models/deepstack_llama/model.h"

namespace deepstack::deepstack_llama {

// The vicuna_v1 conversation text of one user turn (LLaVA's conv_vicuna_v1, SeparatorStyle.TWO): the first turn
// opens with `system_prompt` (none when it is empty; Config::vicuna_system_prompt is the model's own); each image is
// an "<image>\n" line before the text. A later turn follows the previous reply's "</s>", which the engine supplies
// as a token.
std::string render_vicuna_turn(const std::string& system_prompt, bool first, std::size_t images, const std::string& text);

// The authors' tokenizer_image_token: every chunk of `text` between "<image>" sentinels is tokenized on its own
// and each sentinel becomes image_tokens[i] placeholder ids (0); `bos`, when given, opens the sequence. The
// offsets say where each image's placeholders begin. Inference and training both build their ids here.
struct SplicedIds {
    std::vector<TokenId> ids;
    std::vector<std::int64_t> image_offsets;
};
SplicedIds splice_images(const Tokenizer& tokenizer, const std::string& text, const std::vector<std::int64_t>& image_tokens,
                         std::optional<TokenId> bos);

// The engine's entry for the DeepStack LLaVA folders.
engine::Runtime runtime();
// `deepstack-cli bench` for this family (bench.cpp).
std::string bench(const engine::BenchRun& run);

}  // namespace deepstack::deepstack_llama

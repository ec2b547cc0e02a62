// The DeepStack LLaVA family as the engine runs it: the vicuna_v1 template, the <image> splice (BOS only on the
// first chunk), views to features, prefill with the stacks, decode without. Internal.
#pragma once

#include <memory>

#include "deepstack/engine.h"
#include "engine/family.h"
#include "models/deepstack_llama/model.h"

namespace deepstack::deepstack_llama {

// The vicuna_v1 conversation text of one user turn (LLaVA's conv_vicuna_v1, SeparatorStyle.TWO): the first turn
// opens with the system prompt (the default one when `system_prompt` is empty); each image is an "<image>\n" line
// before the text. A later turn follows the previous reply's "</s>", which the engine supplies as a token.
std::string render_vicuna_turn(const std::string& system_prompt, bool first, std::size_t images, const std::string& text);

std::unique_ptr<engine::Family> make_family(const std::filesystem::path& folder, const LoadOptions& load, const Tokenizer& tokenizer);

}  // namespace deepstack::deepstack_llama

// Qwen3-VL-Instruct's chat template as code: what the Jinja template in chat_template.json renders for the
// messages this app sends (system text, then user turns of images followed by text, and plain replies).
#pragma once

#include <string>

#include "deepstack/engine.h"

namespace deepstack::qwen3_vl {

// One user turn and the generation prompt; the system message only on the conversation's first turn. Each
// image is one <|vision_start|><|image_pad|><|vision_end|>, expanded to its token count later.
std::string render_user_turn(const std::string& system_prompt, bool first_turn, const Message& user);

// What closes a reply before the next turn (the template writes it after every assistant message).
inline constexpr const char* kReplyEnd = "<|im_end|>\n";

}  // namespace deepstack::qwen3_vl

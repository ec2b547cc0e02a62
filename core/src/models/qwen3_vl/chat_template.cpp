#include "models/qwen3_vl/chat_template.h"

namespace deepstack::qwen3_vl {

std::string render_user_turn(const std::string& system_prompt, bool first_turn, const Message& user) {
    std::string text;
    // No default system prompt (unlike Qwen2-VL's "You are a helpful assistant.").
    if (first_turn && !system_prompt.empty()) text += "<|im_start|>system\n" + system_prompt + "<|im_end|>\n";
    text += "<|im_start|>user\n";
    for (std::size_t i = 0; i < user.images.size(); ++i) text += "<|vision_start|><|image_pad|><|vision_end|>";
    text += user.text + "<|im_end|>\n<|im_start|>assistant\n";
    return text;
}

}  // namespace deepstack::qwen3_vl

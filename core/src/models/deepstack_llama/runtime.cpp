#include "models/deepstack_llama/runtime.h"

#include <chrono>

#include <torch/types.h>

#include "deepstack/error.h"
#include "engine/clock.h"
#include "engine/recent_vision.h"

namespace deepstack::deepstack_llama {

namespace {

constexpr std::string_view kImageSentinel = "<image>";

// What a turn's pictures become. DeepStack-V spends its groups inside the vision tower, so a pass that edits them
// encodes the views again: they are kept for it.
struct EncodedPictures {
    std::vector<ImageFeatures> features;
    std::vector<ImageViews> views;  // DeepStack-V only
};

struct TurnState final : engine::FamilyTurnState {
    EncodedPictures pictures;
    std::vector<std::int64_t> offsets;  // where each image's tokens start in the turn's ids
};

class DeepStackFamily;

class Session final : public engine::FamilySession {
public:
    Session(const DeepStackFamily& family, std::int64_t capacity);
    engine::PreparedTurn prepare(const Message& user, const std::string& system_prompt, bool first,
                                 const std::vector<TokenId>& prefix) override;
    torch::Tensor prefill(const engine::PreparedTurn& turn, nn::AttentionProbe* probe, nn::StackEdit* edit) override;
    torch::Tensor decode(TokenId token) override;
    torch::Tensor extend(const std::vector<TokenId>& ids, nn::AttentionProbe* probe, bool every_position) override;
    std::int64_t heads() const override;

private:
    const DeepStackFamily& family_;
};

class DeepStackFamily final : public engine::Family {
public:
    DeepStackFamily(std::unique_ptr<Model> model, const Tokenizer& tokenizer, ClipPreprocessing clip)
        : model_(std::move(model)), tokenizer_(tokenizer), clip_(std::move(clip)) {
        const auto& t = model_->config().text;
        if (tokenizer_.size() > t.vocab_size)
            throw Error(ErrorKind::config, "", "the tokenizer has " + std::to_string(tokenizer_.size()) +
                                                   " pieces but the model's vocabulary is " + std::to_string(t.vocab_size));
    }
    std::unique_ptr<engine::FamilySession> new_session(std::int64_t capacity) override {
        return std::make_unique<Session>(*this, capacity);  // at most the trained window (Model::load)
    }
    std::vector<TokenId> end_of_turn_ids() const override { return {static_cast<TokenId>(model_->config().text.eos_token_id)}; }
    std::vector<TokenId> close_reply_ids() const override { return end_of_turn_ids(); }  // the "</s>" after a reply
    std::int64_t language_layers() const override { return model_->config().text.num_hidden_layers; }

    std::unique_ptr<Model> model_;
    const Tokenizer& tokenizer_;
    ClipPreprocessing clip_;
    mutable engine::RecentVision<EncodedPictures> recent_;  // sessions hold the family const; a cache changes no result
};

Session::Session(const DeepStackFamily& family, std::int64_t capacity)
    : engine::FamilySession(family.model_->new_cache(capacity)), family_(family) {}

std::int64_t Session::heads() const { return family_.model_->config().text.num_attention_heads; }

engine::PreparedTurn Session::prepare(const Message& user, const std::string& system_prompt, bool first,
                                      const std::vector<TokenId>& prefix) {
    if (user.text.find(kImageSentinel) != std::string::npos)
        throw Error(ErrorKind::config, "", "the message text contains <image>; remove it (images are attached, not typed)");
    const auto text = render_vicuna_turn(system_prompt.empty() ? family_.model_->config().vicuna_system_prompt : system_prompt, first,
                                         user.images.size(), user.text);

    auto state = std::make_shared<TurnState>();
    engine::PreparedTurn turn;
    if (!user.images.empty()) {
        const auto start = std::chrono::steady_clock::now();
        if (auto recent = family_.recent_.find(user.images)) {
            state->pictures = std::move(*recent);
            turn.vision_reused = true;
        } else {
            const bool stacks_in_the_tower = family_.model_->config().vit_stack_start_layer().has_value();
            for (const auto& image : user.images) {
                auto views = make_views(image, family_.model_->config(), family_.clip_);
                state->pictures.features.push_back(family_.model_->encode_image(views));
                if (stacks_in_the_tower) state->pictures.views.push_back(std::move(views));
            }
            family_.recent_.keep(user.images, state->pictures);
        }
        turn.vision_ms = elapsed_ms(start);
    }
    // Only the conversation's very first chunk keeps the BOS.
    std::vector<std::int64_t> image_tokens;
    for (const auto& f : state->pictures.features) image_tokens.push_back(f.embeds.size(0));
    const auto spliced = splice_images(family_.tokenizer_, text, image_tokens,
                                       first ? std::optional<TokenId>(static_cast<TokenId>(family_.model_->config().text.bos_token_id)) : std::nullopt);
    turn.ids = prefix;
    turn.prefix_tokens = prefix.size();
    turn.ids.insert(turn.ids.end(), spliced.ids.begin(), spliced.ids.end());
    for (std::size_t i = 0; i < image_tokens.size(); ++i) {
        const auto offset = static_cast<std::int64_t>(prefix.size()) + spliced.image_offsets[i];
        state->offsets.push_back(offset);
        turn.images.push_back({offset, image_tokens[i]});
        turn.image_tokens += image_tokens[i];
    }
    turn.state = state;
    return turn;
}

torch::Tensor Session::prefill(const engine::PreparedTurn& turn, nn::AttentionProbe* probe, nn::StackEdit* edit) {
    const auto& state = engine::state_of<TurnState>(turn);
    // DeepStack-V: an edit acts inside the vision tower, so the views are encoded again under it.
    std::vector<ImageFeatures> edited;
    if (edit != nullptr && !state.pictures.views.empty())
        for (const auto& views : state.pictures.views) edited.push_back(family_.model_->encode_image(views, nullptr, edit));
    const auto& features = edited.empty() ? state.pictures.features : edited;
    std::vector<PlacedImage> images;
    for (std::size_t i = 0; i < features.size(); ++i) images.push_back({&features[i], state.offsets[i]});
    const std::vector<std::int64_t> ids(turn.ids.begin(), turn.ids.end());
    return family_.model_->forward(ids, images, cache_, true, probe, edit)[0].to(torch::kFloat32);
}

torch::Tensor Session::decode(TokenId token) {
    return family_.model_->forward({token}, {}, cache_, true)[0].to(torch::kFloat32);
}

torch::Tensor Session::extend(const std::vector<TokenId>& ids, nn::AttentionProbe* probe, bool every_position) {
    const std::vector<std::int64_t> ids64(ids.begin(), ids.end());
    const auto logits = family_.model_->forward(ids64, {}, cache_, !every_position, probe);
    return every_position ? logits.to(torch::kFloat32) : logits[0].to(torch::kFloat32);
}

}  // namespace

SplicedIds splice_images(const Tokenizer& tokenizer, const std::string& text, const std::vector<std::int64_t>& image_tokens,
                         std::optional<TokenId> bos) {
    SplicedIds out;
    if (bos) out.ids.push_back(*bos);
    std::size_t begin = 0, image = 0;
    while (true) {
        const auto at = text.find(kImageSentinel, begin);
        const auto chunk = tokenizer.encode(std::string_view(text).substr(begin, at == std::string::npos ? std::string::npos : at - begin));
        out.ids.insert(out.ids.end(), chunk.begin(), chunk.end());
        if (at == std::string::npos) break;
        if (image >= image_tokens.size()) throw Error(ErrorKind::internal, "", "more <image> sentinels than images");
        out.image_offsets.push_back(static_cast<std::int64_t>(out.ids.size()));
        out.ids.insert(out.ids.end(), static_cast<std::size_t>(image_tokens[image++]), 0);  // placeholders: the features replace them
        begin = at + kImageSentinel.size();
    }
    return out;
}

std::string render_vicuna_turn(const std::string& system_prompt, bool first, std::size_t images, const std::string& text) {
    std::string out;
    if (first && !system_prompt.empty()) out += system_prompt + " ";
    out += "USER: ";
    for (std::size_t i = 0; i < images; ++i) out += std::string(kImageSentinel) + "\n";
    return out + text + " ASSISTANT:";
}

engine::Runtime runtime() {
    return {"deepstack_llama", [](const std::filesystem::path& folder, const engine::OpenRequest& request, const Tokenizer& tokenizer) {
        auto model = Model::load(folder, {request.dtype, request.device, request.weights_progress, request.matrices});
        auto clip = clip_preprocessing(folder, model->config());
        return engine::OpenedFamily{std::make_unique<DeepStackFamily>(std::move(model), tokenizer, std::move(clip)), 0};
    }, {"deepstack-l-7b", "deepstack-l-hd-7b"}, &bench};
}

}  // namespace deepstack::deepstack_llama

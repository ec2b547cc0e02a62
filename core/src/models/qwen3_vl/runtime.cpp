#include "models/qwen3_vl/runtime.h"

#include <chrono>

#include <torch/types.h>

#include "deepstack/error.h"
#include "deepstack/inspect.h"
#include "deepstack/system.h"
#include "engine/clock.h"
#include "engine/recent_vision.h"
#include "models/qwen3_vl/chat_template.h"

namespace deepstack::qwen3_vl {

namespace {

TokenId special(const Tokenizer& tokenizer, const char* text) {
    const auto id = tokenizer.token_id(text);
    if (!id) throw Error(ErrorKind::config, "", std::string("the tokenizer has no ") + text + " token, which Qwen3-VL's chat template needs");
    return *id;
}

// What a turn's pictures become: their patch grids and the vision tower's output.
struct EncodedPictures {
    std::vector<Grid> grids;
    VisionFeatures features;
};

struct TurnState final : engine::FamilyTurnState {
    VisionFeatures features;
    bool has_images = false;
    RopeIndex index;
};

class Qwen3VLFamily;

class Session final : public engine::FamilySession {
public:
    Session(const Qwen3VLFamily& family, std::int64_t capacity);
    engine::PreparedTurn prepare(const Message& user, const std::string& system_prompt, bool first,
                                 const std::vector<TokenId>& prefix) override;
    torch::Tensor prefill(const engine::PreparedTurn& turn, nn::AttentionProbe* probe, nn::StackEdit* edit) override;
    torch::Tensor decode(TokenId token) override;
    torch::Tensor extend(const std::vector<TokenId>& ids, nn::AttentionProbe* probe, bool every_position) override;
    engine::SessionMark mark() const override { return {cache_.length(), next_position_}; }
    void rewind(const engine::SessionMark& mark) override {
        engine::FamilySession::rewind(mark);
        next_position_ = mark.next_position;
    }
    std::int64_t heads() const override;

private:
    // Throws Error(resources) before any vision work when the pictures' tokens cannot fit the context or their
    // vision pass the memory.
    void check_room_for_pictures(const std::vector<Grid>& grids, std::int64_t text_tokens) const;

    const Qwen3VLFamily& family_;
    std::int64_t next_position_ = 0;  // MRoPE: images advance positions by less than their token count
};

class Qwen3VLFamily final : public engine::Family {
public:
    Qwen3VLFamily(std::unique_ptr<Model> model, const Tokenizer& tokenizer, ImagePreprocessorConfig preprocessor, PixelBudget budget)
        : model_(std::move(model)), tokenizer_(tokenizer), preprocessor_(std::move(preprocessor)), budget_(budget) {
        im_end_ = special(tokenizer, "<|im_end|>");
        image_pad_ = special(tokenizer, "<|image_pad|>");
        if (image_pad_ != model_->config().image_token_id)
            throw Error(ErrorKind::config, "", "the tokenizer's <|image_pad|> is " + std::to_string(image_pad_) +
                                                   " but config.json says " + std::to_string(model_->config().image_token_id));
    }
    std::unique_ptr<engine::FamilySession> new_session(std::int64_t capacity) override {
        return std::make_unique<Session>(*this, capacity);
    }
    std::vector<TokenId> end_of_turn_ids() const override {
        std::vector<TokenId> ids{im_end_};
        if (const auto eot = tokenizer_.token_id("<|endoftext|>")) ids.push_back(*eot);
        return ids;
    }
    std::vector<TokenId> close_reply_ids() const override {
        return tokenizer_.encode(kReplyEnd);
    }
    std::int64_t language_layers() const override { return model_->config().text.num_hidden_layers; }

    std::unique_ptr<Model> model_;
    const Tokenizer& tokenizer_;
    ImagePreprocessorConfig preprocessor_;
    PixelBudget budget_;
    TokenId im_end_ = 0, image_pad_ = 0;
    mutable engine::RecentVision<EncodedPictures> recent_;  // sessions hold the family const; a cache changes no result
};

Session::Session(const Qwen3VLFamily& family, std::int64_t capacity)
    : engine::FamilySession(family.model_->new_cache(capacity)), family_(family) {}

std::int64_t Session::heads() const { return family_.model_->config().text.num_attention_heads; }

engine::PreparedTurn Session::prepare(const Message& user, const std::string& system_prompt, bool first,
                                      const std::vector<TokenId>& prefix) {
    const auto templated = family_.tokenizer_.encode(render_user_turn(system_prompt, first, user));

    auto state = std::make_shared<TurnState>();
    engine::PreparedTurn turn;
    std::vector<Grid> grids;
    if (!user.images.empty()) {
        const auto start = std::chrono::steady_clock::now();
        const auto text_tokens = static_cast<std::int64_t>(prefix.size() + templated.size());
        if (auto recent = family_.recent_.find(user.images)) {
            check_room_for_pictures(recent->grids, text_tokens);
            grids = std::move(recent->grids);
            state->features = std::move(recent->features);
            turn.vision_reused = true;
        } else {
            std::vector<torch::Tensor> pixels;
            for (const auto& image : user.images) {
                auto processed = preprocess(image, family_.preprocessor_, family_.budget_);
                pixels.push_back(processed.pixel_values);
                grids.push_back(processed.grid);
            }
            check_room_for_pictures(grids, text_tokens);
            state->features = family_.model_->encode_images(torch::cat(pixels), grids);
            family_.recent_.keep(user.images, {grids, state->features});
        }
        state->has_images = true;
        turn.vision_ms = elapsed_ms(start);
    }
    // Each image's single <|image_pad|> becomes one pad per merged token.
    turn.ids = prefix;
    turn.prefix_tokens = prefix.size();
    std::size_t image = 0;
    const auto merge = family_.model_->config().vision.spatial_merge_size;
    for (const auto id : templated) {
        if (id != family_.image_pad_) {
            turn.ids.push_back(id);
            continue;
        }
        if (image >= grids.size()) throw Error(ErrorKind::config, "", "the message text contains <|image_pad|>; remove it");
        const auto& [t, h, w] = grids[image++];
        const auto count = t * h * w / (merge * merge);
        turn.images.push_back({static_cast<std::int64_t>(turn.ids.size()), count});
        turn.ids.insert(turn.ids.end(), static_cast<std::size_t>(count), family_.image_pad_);
        turn.image_tokens += count;
    }
    std::vector<std::int64_t> ids64(turn.ids.begin(), turn.ids.end());
    state->index = family_.model_->rope_index(ids64, grids, next_position_);
    turn.state = state;
    return turn;
}

void Session::check_room_for_pictures(const std::vector<Grid>& grids, std::int64_t text_tokens) const {
    const auto& vision = family_.model_->config().vision;
    const auto merge = vision.spatial_merge_size;
    std::int64_t patches = 0;
    for (const auto& [t, h, w] : grids) patches += t * h * w;
    const auto image_tokens = patches / (merge * merge);
    const auto budget = "at the picture budget of " + std::to_string(family_.budget_.max_pixels) + " pixels";
    // Before the vision pass, which would take minutes for nothing: the turn must fit the context.
    if (cache_.length() + text_tokens + image_tokens >= cache_.capacity())
        throw Error(ErrorKind::resources, "",
                    std::string(grids.size() == 1 ? "the picture becomes " : "the pictures become ") + std::to_string(image_tokens) +
                        " tokens " + budget + ", but the context has room for " +
                        std::to_string(std::max<std::int64_t>(0, cache_.capacity() - cache_.length() - text_tokens)) + " of its " +
                        std::to_string(cache_.capacity()) + "; lower the picture budget, raise the context, or start a new chat");
    // What the vision pass holds at once (fp32 at most): the patches' pixels, the hidden state and the residual,
    // queries, keys and values, the rotated queries and keys in fp32, and the MLP's expansion twice; attention
    // runs in blocks (nn::attention) and adds at most its score budget.
    const auto values_per_patch = vision.in_channels * vision.temporal_patch_size * vision.patch_size * vision.patch_size;
    const auto per_patch = values_per_patch + 10 * vision.hidden_size + 2 * vision.intermediate_size;
    const auto needed = static_cast<std::uint64_t>(patches * per_patch * 4 + nn::kAttentionScoreBytes);
    const auto available = family_.model_->device().is_cpu() ? available_memory_bytes() : 0;
    if (available > 0 && needed > available)
        throw Error(ErrorKind::resources, "",
                    "the vision pass over " + std::to_string(patches) + " patches (" + budget + ") needs about " +
                        human_bytes(needed) + " of memory, and " + human_bytes(available) + " is available; lower the picture budget");
}

torch::Tensor Session::prefill(const engine::PreparedTurn& turn, nn::AttentionProbe* probe, nn::StackEdit* edit) {
    const auto& state = engine::state_of<TurnState>(turn);
    std::vector<std::int64_t> ids64(turn.ids.begin(), turn.ids.end());
    const auto logits = family_.model_->forward(ids64, state.index.positions, cache_, state.has_images ? &state.features : nullptr, true, probe, edit);
    next_position_ = state.index.next_position;
    return logits[0].to(torch::kFloat32);
}

torch::Tensor Session::decode(TokenId token) {
    const auto positions = torch::full({3, 1}, next_position_, torch::kLong);
    const auto logits = family_.model_->forward({token}, positions, cache_, nullptr, true);
    ++next_position_;
    return logits[0].to(torch::kFloat32);
}

torch::Tensor Session::extend(const std::vector<TokenId>& ids, nn::AttentionProbe* probe, bool every_position) {
    const auto count = static_cast<std::int64_t>(ids.size());
    // Text advances all three MRoPE axes together.
    const auto positions = torch::arange(next_position_, next_position_ + count, torch::kLong).unsqueeze(0).expand({3, count}).contiguous();
    const std::vector<std::int64_t> ids64(ids.begin(), ids.end());
    const auto logits = family_.model_->forward(ids64, positions, cache_, nullptr, !every_position, probe);
    next_position_ += count;
    return every_position ? logits.to(torch::kFloat32) : logits[0].to(torch::kFloat32);
}

}  // namespace

namespace {
ImagePreprocessorConfig read_preprocessor(const std::filesystem::path& folder) {
    ImagePreprocessorConfig preprocessor;
    if (std::filesystem::exists(folder / "preprocessor_config.json"))
        preprocessor = read_preprocessor_config(folder / "preprocessor_config.json");
    return preprocessor;
}
}  // namespace

engine::Runtime runtime() {
    return {"qwen3_vl", [](const std::filesystem::path& folder, const engine::OpenRequest& request, const Tokenizer& tokenizer) {
        auto preprocessor = read_preprocessor(folder);
        auto budget = effective_budget({request.min_image_pixels, request.max_image_pixels}, preprocessor);
        if (request.max_image_pixels <= 0) budget.max_pixels = std::min(budget.max_pixels, request.device_max_image_pixels);
        budget.min_pixels = std::min(budget.min_pixels, budget.max_pixels);
        budget = effective_budget(budget, preprocessor);  // a device budget of 0 falls back to the folder's
        auto model = Model::load(folder, {request.dtype, request.device, request.weights_progress, request.matrices});
        const auto max_pixels = budget.max_pixels;
        return engine::OpenedFamily{std::make_unique<Qwen3VLFamily>(std::move(model), tokenizer, std::move(preprocessor), budget), max_pixels};
    }, {"qwen3-vl-2b", "qwen3-vl-4b", "qwen3-vl-8b"}, &bench};
}

}  // namespace deepstack::qwen3_vl

// The DeepStack LLaVA family on LibTorch (DeepStack-L, -L-HD, -V): the CLIP tower with the DeepStack-V stacks
// (clip.cpp), the shared mlp2x_gelu projector and the grouping of the high-resolution features (model.cpp), and
// the LLaMA decoder that adds group k to the image positions before layer start + k * interval (llama.cpp).
// Module and tensor names follow the checkpoint. Internal to the core.
//
// Axis letters: N crops (views), P patches per crop, Dv vision width, Dt text width, T image tokens in the LLM
// input, L sequence, V vocabulary.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include <torch/types.h>

#include "deepstack/safetensors.h"
#include "models/deepstack_llama/config.h"
#include "models/deepstack_llama/processor.h"
#include "models/deepstack_llama/weights.h"
#include "nn/attention_probe.h"
#include "nn/blocks.h"
#include "nn/decoder.h"
#include "nn/stack_edit.h"
#include "nn/weights.h"

namespace deepstack::deepstack_llama {

// The weights as declared in weights.h, under the checkpoint's names.
using ClipLayer = ClipLayerWeights<torch::Tensor>;

// What crosses from vision to language for one image: the tokens that take the image's place in the sequence and
// the stacked groups, group k entering before decoder layer start + k * interval.
struct ImageFeatures {
    torch::Tensor embeds;               // [T, Dt]
    std::vector<torch::Tensor> stacks;  // each [T, Dt]; empty for DeepStack-V (its stacks stay inside the ViT)
    CropGrid grid;
};

// An image placed in a sequence: its features fill positions offset .. offset + T - 1 of the new tokens.
struct PlacedImage {
    const ImageFeatures* features = nullptr;
    std::int64_t offset = 0;
};

using LoadOptions = nn::LoadOptions;

class Model {
public:
    static std::unique_ptr<Model> load(const std::filesystem::path& folder, const LoadOptions& options);
    static std::unique_ptr<Model> random(const Config& config, const LoadOptions& options, std::uint64_t seed);

    const Config& config() const { return config_; }
    c10::ScalarType dtype() const { return dtype_; }

    // CLIP features of the selected layer, CLS dropped: pixels [N, 3, S, S] fp32 -> [N, P, Dv]. With DeepStack-V,
    // views 1..4 are the 2x2 high-resolution crops and only the global view's features come back [1, P, Dv].
    // An edit leaves DeepStack-V's groups out or measures them.
    torch::Tensor vision_features(const torch::Tensor& pixels, nn::StackEdit* edit = nullptr) const;
    torch::Tensor project(const torch::Tensor& features) const;  // [.., Dv] -> [.., Dt]

    // The whole image path: views -> CLIP -> projector -> LLM input tokens and stacked groups. `vision`, when
    // given, receives every view's CLIP features [N, P, Dv] (training's glyph loss reads the crops' ones; the
    // twin without stacks computes them too, so that both twins train their vision towers alike).
    ImageFeatures encode_image(const ImageViews& views, torch::Tensor* vision = nullptr, nn::StackEdit* edit = nullptr) const;

    // Runs new tokens on top of `cache` (positions continue from cache.length()) and returns the logits of every
    // new position [L, V], or of the last only. The ids at an image's positions are ignored; its stacks are added.
    // A probe, when given, records attention rows on the way; an edit leaves DeepStack-L groups out or measures them.
    torch::Tensor forward(const std::vector<std::int64_t>& ids, const std::vector<PlacedImage>& images,
                          nn::KvCache& cache, bool last_only, nn::AttentionProbe* probe = nullptr, nn::StackEdit* edit = nullptr) const;

    nn::KvCache new_cache(std::int64_t capacity) const;

    // Every weight under its checkpoint name (a tied head once, as the embedding): what training updates and saves.
    const std::vector<std::pair<std::string, torch::Tensor>>& named_weights() const { return named_weights_; }

    // What load and random bind through (nn::bind_checkpoint, nn::bind_random): `checkpoint` is the files whose
    // mappings the weights may view, null for weights made in memory.
    static std::unique_ptr<Model> with_weights(const Config& config, const LoadOptions& options, const nn::TensorSource& source,
                                               const nn::BlockSource& blocks, std::shared_ptr<const void> checkpoint);

private:
    Config config_;
    c10::ScalarType dtype_ = c10::kBFloat16;
    c10::Device device_ = c10::Device(c10::kCPU);
    std::shared_ptr<const void> checkpoint_;  // the files whose mappings the weights view
    Weights<torch::Tensor, nn::Matrix> weights_;
    torch::Tensor rope_inv_freq_;  // RoPE's inverse frequencies [D/2], fp32, on the device: made once, not per step
    std::vector<std::pair<std::string, torch::Tensor>> named_weights_;
};

}  // namespace deepstack::deepstack_llama

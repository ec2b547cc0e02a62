// Qwen3-VL on LibTorch: the vision tower with its DeepStack mergers (vision.cpp), the Qwen3 decoder with
// interleaved MRoPE and the DeepStack additions (text.cpp), and the glue: position ids, image rows, prefill and
// decode (model.cpp). Module and tensor names follow the checkpoint. Internal to the core.
//
// Axis letters: N patches, M merged image tokens (N / 4), L sequence, H heads, Hkv key/value heads, D head size,
// Dv vision width, Dt text width, V vocabulary.
#pragma once

#include <array>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <torch/types.h>

#include "deepstack/safetensors.h"
#include "models/qwen3_vl/config.h"
#include "models/qwen3_vl/weights.h"
#include "nn/attention_probe.h"
#include "nn/weights.h"
#include "nn/blocks.h"
#include "nn/decoder.h"
#include "nn/stack_edit.h"

namespace deepstack::qwen3_vl {

using Grid = std::array<std::int64_t, 3>;  // (t, h, w) in patches, as image_grid_thw

// The weights as declared in weights.h, under the checkpoint's names.
using VisionBlock = VisionBlockWeights<torch::Tensor>;
using PatchMerger = PatchMergerWeights<torch::Tensor>;

// What crosses from vision to language: the merged image tokens and one DeepStack group per tapped block.
struct VisionFeatures {
    torch::Tensor embeds;                  // [M, Dt], images concatenated in order
    std::vector<torch::Tensor> deepstack;  // each [M, Dt]
};

// Position ids of a prompt: three rows (T, H, W) and the offset decode steps add to the cache length.
struct RopeIndex {
    torch::Tensor positions;         // [3, L] int64
    std::int64_t delta = 0;          // max(position) + 1 - L - start: what decode steps add to the cache length
    std::int64_t next_position = 0;  // max(position) + 1: where the next token goes
};

using LoadOptions = nn::LoadOptions;

class Model {
public:
    static std::unique_ptr<Model> load(const std::filesystem::path& folder, const LoadOptions& options);
    // Random weights of the config's real shapes, built in memory (benchmarks of models nobody downloaded).
    static std::unique_ptr<Model> random(const Config& config, const LoadOptions& options, std::uint64_t seed);

    const Config& config() const { return config_; }
    c10::ScalarType dtype() const { return dtype_; }
    c10::Device device() const { return device_; }

    // pixel_values [N, 3 * T * P * P] fp32 as the processor makes them; grids one per image.
    VisionFeatures encode_images(const torch::Tensor& pixel_values, const std::vector<Grid>& grids) const;

    // Position ids of new tokens whose first text position is `start`. Throws Error when the image-token runs
    // disagree with the images (count or size).
    RopeIndex rope_index(const std::vector<std::int64_t>& ids, const std::vector<Grid>& grids, std::int64_t start = 0) const;

    // Runs new tokens through the decoder on top of `cache` and returns the logits of every new position [L, V]
    // (or of the last only). `positions` [3, L]; `images` is given on the prefill that holds the image tokens.
    // An edit, with images, leaves DeepStack groups out or measures them.
    torch::Tensor forward(const std::vector<std::int64_t>& ids, const torch::Tensor& positions, nn::KvCache& cache,
                          const VisionFeatures* images, bool last_only, nn::AttentionProbe* probe = nullptr,
                          nn::StackEdit* edit = nullptr) const;

    nn::KvCache new_cache(std::int64_t capacity) const;

    // The bytes of the weights one decode step reads: every decoder matrix and norm, the final norm and the head.
    std::uint64_t decoder_weight_bytes() const;
    // The bytes of every weight held (tower, mergers, embedding, decoder; a head tied to the embedding once).
    std::uint64_t weight_bytes() const;

    // What load and random bind through (nn::bind_checkpoint, nn::bind_random): `checkpoint` is the files whose
    // mappings the weights may view, null for weights made in memory.
    static std::unique_ptr<Model> with_weights(const Config& config, const LoadOptions& options, const nn::TensorSource& source,
                                               const nn::BlockSource& blocks, std::shared_ptr<const void> checkpoint);

private:
    nn::DecoderGeometry geometry() const;

    Config config_;
    c10::ScalarType dtype_ = c10::kBFloat16;
    c10::Device device_ = c10::Device(c10::kCPU);
    std::shared_ptr<const void> checkpoint_;  // the files whose mappings the weights view
    Weights<torch::Tensor, nn::Matrix> weights_;
    // MRoPE's tables, made once on the device (not per decode step): each frequency's inverse [D/2] and the
    // position axis (T 0, H 1, W 2) that rotates it [D/2].
    torch::Tensor rope_inv_freq_;
    torch::Tensor mrope_axis_;
};

}  // namespace deepstack::qwen3_vl

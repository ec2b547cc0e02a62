// Attention over the image, recorded for the visualisation: for chosen positions of a turn (the question's
// tokens, the positions that produced the answer's tokens), the softmax rows of every chosen layer and head over
// the turn's visual tokens, plus the share that went elsewhere. Plain data (no LibTorch), the heatmap drawn from
// it, and the exports the app and `deepstack-cli attention` write.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "deepstack/image.h"
#include "deepstack/stack_plan.h"
#include "deepstack/tokenizer.h"

namespace deepstack {

struct AttentionRequest {
    bool question = true;  // the rows of the question (its text after the images, with the template's words)
    bool answer = true;    // the rows that produced each token of the answer
    std::vector<std::int64_t> layers;  // language layers to record, empty: every layer
    // What the recorded numbers may take (4 bytes per query, layer, head and visual token, plus one per row).
    std::uint64_t memory_cap_bytes = std::uint64_t{512} << 20;
};

struct AttentionQuery {
    enum class Kind { question, answer };
    Kind kind = Kind::answer;
    std::int64_t position = 0;  // the row's position in the conversation
    TokenId token = 0;          // question: the token at that position; answer: the token that row produced
    std::string text;           // that token's text
};

// One picture of the turn: its plan, the picture itself, and where its tokens are.
struct AttentionImage {
    StackPlan plan;
    RgbImage image;
    std::int64_t first_position = 0;  // of its first visual token in the conversation
    std::int64_t first_column = 0;    // of its first token in AttentionCapture's visual axis
};

struct HeadChoice {
    enum class Reduction { mean, max, single };
    Reduction reduction = Reduction::mean;
    std::int64_t head = 0;  // for `single`
};

struct AttentionCapture {
    std::string family, variant;
    std::int64_t language_layers = 0;
    std::int64_t heads = 0;
    std::vector<std::int64_t> layers;  // recorded, ascending
    std::vector<AttentionQuery> queries;
    std::vector<AttentionImage> images;
    std::int64_t visual_tokens = 0;  // every image of the turn, in order
    std::vector<float> visual;       // [query][layer][head][visual token]
    std::vector<float> elsewhere;    // [query][layer][head]: text, and anything before this turn

    static std::uint64_t bytes_needed(std::size_t queries, std::size_t layers, std::int64_t heads, std::int64_t visual_tokens);
    std::uint64_t bytes() const;

    // Index of `layer` in `layers`; throws Error when it was not recorded.
    std::size_t layer_index(std::int64_t layer) const;
    // The chosen queries' attention at a recorded layer, averaged over the queries, per visual token [visual_tokens].
    std::vector<float> map(std::span<const std::size_t> queries, std::size_t layer_index, HeadChoice heads) const;
    // The same reduction of the share that went to the images (the sum of map()) and elsewhere: {image, elsewhere}.
    std::pair<double, double> shares(std::span<const std::size_t> queries, std::size_t layer_index, HeadChoice heads) const;
    std::vector<std::size_t> all_queries() const;
    std::vector<std::size_t> queries_of(AttentionQuery::Kind kind) const;
};

// The colour scale of every heatmap (dark violet through red to pale yellow), t in 0..1.
std::array<std::uint8_t, 3> heat_colour(double t);

struct HeatmapOptions {
    double opacity = 0.65;  // of the colour over the picture
    // Draw each token at the cell of this group of the plan (its high-resolution grid) instead of at the input
    // token's own region; -1: the input regions.
    int group = -1;
    float scale_max = 0;  // the value drawn at the top of the scale; 0: the largest value shown
};

// `values`: one per input token of `image` (a slice of AttentionCapture::map()). Returns the picture with the
// heatmap over it; tokens with no region leave the picture as it is.
RgbImage render_heatmap(const AttentionImage& image, std::span<const float> values, const HeatmapOptions& options = {});

// Writes a PNG; throws Error naming the file when it cannot.
void save_png(const RgbImage& image, const std::filesystem::path& file);

// The chosen queries' numbers at the chosen layers, per head and reduced, as JSON (with the plan) or CSV
// (layer, head, image, token, row, column, value; one line per visual token).
std::string attention_json(const AttentionCapture& capture, std::span<const std::size_t> queries, std::span<const std::size_t> layer_indexes);
std::string attention_csv(const AttentionCapture& capture, std::span<const std::size_t> queries, std::span<const std::size_t> layer_indexes);
// The plan alone, as JSON (the stack map's data).
std::string stack_plan_json(const StackPlan& plan);

}  // namespace deepstack

// The recorded attention as data: reductions over queries and heads, the heatmap over the picture, the exports.
#include "deepstack/attention.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "deepstack/error.h"

namespace deepstack {

std::uint64_t AttentionCapture::bytes_needed(std::size_t queries, std::size_t layers, std::int64_t heads, std::int64_t visual_tokens) {
    return static_cast<std::uint64_t>(queries) * layers * static_cast<std::uint64_t>(heads) *
           (static_cast<std::uint64_t>(visual_tokens) + 1) * sizeof(float);
}

std::uint64_t AttentionCapture::bytes() const { return (visual.size() + elsewhere.size()) * sizeof(float); }

std::size_t AttentionCapture::layer_index(std::int64_t layer) const {
    const auto it = std::find(layers.begin(), layers.end(), layer);
    if (it == layers.end()) throw Error(ErrorKind::config, "", "layer " + std::to_string(layer) + " was not recorded");
    return static_cast<std::size_t>(it - layers.begin());
}

namespace {

void check_choice(const AttentionCapture& c, std::span<const std::size_t> queries, std::size_t layer_index, HeadChoice heads) {
    if (layer_index >= c.layers.size()) throw Error(ErrorKind::config, "", "layer index " + std::to_string(layer_index) + " was not recorded");
    for (const auto q : queries)
        if (q >= c.queries.size()) throw Error(ErrorKind::config, "", "query " + std::to_string(q) + " was not recorded");
    if (heads.reduction == HeadChoice::Reduction::single && (heads.head < 0 || heads.head >= c.heads))
        throw Error(ErrorKind::config, "", "head " + std::to_string(heads.head) + " is outside the " + std::to_string(c.heads) + " heads");
}

// Reduces `heads` consecutive rows of `width` values starting at `first` into `out` (mean, max or one head).
void reduce_heads(const float* first, std::int64_t heads, std::size_t width, HeadChoice choice, double weight, std::vector<double>& out) {
    for (std::size_t v = 0; v < width; ++v) {
        double value = 0;
        if (choice.reduction == HeadChoice::Reduction::single) {
            value = first[static_cast<std::size_t>(choice.head) * width + v];
        } else if (choice.reduction == HeadChoice::Reduction::max) {
            value = -1;
            for (std::int64_t h = 0; h < heads; ++h) value = std::max(value, static_cast<double>(first[static_cast<std::size_t>(h) * width + v]));
        } else {
            for (std::int64_t h = 0; h < heads; ++h) value += first[static_cast<std::size_t>(h) * width + v];
            value /= static_cast<double>(heads);
        }
        out[v] += weight * value;
    }
}

}  // namespace

std::vector<float> AttentionCapture::map(std::span<const std::size_t> chosen, std::size_t layer_index, HeadChoice heads_choice) const {
    check_choice(*this, chosen, layer_index, heads_choice);
    const auto width = static_cast<std::size_t>(visual_tokens);
    std::vector<double> sum(width, 0.0);
    for (const auto q : chosen) {
        const auto offset = ((q * layers.size() + layer_index) * static_cast<std::size_t>(heads)) * width;
        reduce_heads(visual.data() + offset, heads, width, heads_choice, 1.0 / static_cast<double>(chosen.size()), sum);
    }
    return {sum.begin(), sum.end()};
}

std::pair<double, double> AttentionCapture::shares(std::span<const std::size_t> chosen, std::size_t layer_index, HeadChoice heads_choice) const {
    check_choice(*this, chosen, layer_index, heads_choice);
    const auto width = static_cast<std::size_t>(visual_tokens);
    double image = 0, rest = 0;
    for (const auto q : chosen) {
        const auto row = (q * layers.size() + layer_index) * static_cast<std::size_t>(heads);
        // Per head: the image share is the row's visual sum; reduce those sums over heads like the values.
        std::vector<double> per_head_image(static_cast<std::size_t>(heads)), per_head_rest(static_cast<std::size_t>(heads));
        for (std::int64_t h = 0; h < heads; ++h) {
            const auto* values = visual.data() + (row + static_cast<std::size_t>(h)) * width;
            double s = 0;
            for (std::size_t v = 0; v < width; ++v) s += values[v];
            per_head_image[static_cast<std::size_t>(h)] = s;
            per_head_rest[static_cast<std::size_t>(h)] = elsewhere[row + static_cast<std::size_t>(h)];
        }
        const auto reduce = [&](const std::vector<double>& v) {
            if (heads_choice.reduction == HeadChoice::Reduction::single) return v[static_cast<std::size_t>(heads_choice.head)];
            if (heads_choice.reduction == HeadChoice::Reduction::max) return *std::max_element(v.begin(), v.end());
            double s = 0;
            for (const auto x : v) s += x;
            return s / static_cast<double>(v.size());
        };
        image += reduce(per_head_image) / static_cast<double>(chosen.size());
        rest += reduce(per_head_rest) / static_cast<double>(chosen.size());
    }
    return {image, rest};
}

std::vector<std::size_t> AttentionCapture::all_queries() const {
    std::vector<std::size_t> out(queries.size());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = i;
    return out;
}

std::vector<std::size_t> AttentionCapture::queries_of(AttentionQuery::Kind kind) const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < queries.size(); ++i)
        if (queries[i].kind == kind) out.push_back(i);
    return out;
}

std::array<std::uint8_t, 3> heat_colour(double t) {
    // Anchors of a perceptually ordered dark-to-light scale (violet, magenta, red, orange, pale yellow): dark where
    // nothing looks, so the picture shows through; bright where attention gathers.
    static constexpr std::array<std::array<double, 3>, 6> anchors{{{20, 11, 52}, {101, 21, 110}, {177, 50, 90},
                                                                   {229, 92, 48}, {250, 160, 20}, {252, 240, 150}}};
    t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0) * static_cast<double>(anchors.size() - 1);
    const auto i = std::min(static_cast<std::size_t>(t), anchors.size() - 2);
    const double f = t - static_cast<double>(i);
    std::array<std::uint8_t, 3> out{};
    for (std::size_t c = 0; c < 3; ++c) out[c] = static_cast<std::uint8_t>(std::lround(anchors[i][c] * (1 - f) + anchors[i + 1][c] * f));
    return out;
}

RgbImage render_heatmap(const AttentionImage& image, std::span<const float> values, const HeatmapOptions& options) {
    const auto& plan = image.plan;
    const auto& picture = image.image;
    if (picture.width < 1 || picture.height < 1) throw Error(ErrorKind::format, "", "the heatmap has no picture to draw on");
    const std::vector<ImageRegion>* regions = &plan.input_regions;
    if (options.group >= 0) {
        if (static_cast<std::size_t>(options.group) >= plan.groups.size() || plan.groups[static_cast<std::size_t>(options.group)].tower != Tower::language)
            throw Error(ErrorKind::config, "", "group " + std::to_string(options.group) + " is not a group of the language model");
        regions = &plan.groups[static_cast<std::size_t>(options.group)].regions;
    }
    if (values.size() != regions->size())
        throw Error(ErrorKind::internal, "", "the heatmap has " + std::to_string(values.size()) + " values for " +
                                                 std::to_string(regions->size()) + " tokens");
    float top = options.scale_max;
    if (top <= 0)
        for (const auto v : values) top = std::max(top, v);
    if (top <= 0) top = 1;

    // Token values painted at picture resolution; where regions overlap (the HD global view under its crops) the
    // larger value shows. -1 marks pixels no token covers.
    cv::Mat field(picture.height, picture.width, CV_32F, cv::Scalar(-1));
    for (std::size_t t = 0; t < regions->size(); ++t) {
        const auto& r = (*regions)[t];
        if (r.empty()) continue;
        const auto x0 = static_cast<int>(std::lround(r.left * picture.width)), x1 = static_cast<int>(std::lround(r.right * picture.width));
        const auto y0 = static_cast<int>(std::lround(r.top * picture.height)), y1 = static_cast<int>(std::lround(r.bottom * picture.height));
        if (x1 <= x0 || y1 <= y0) continue;
        cv::Mat cell = field(cv::Rect(x0, y0, x1 - x0, y1 - y0));
        cv::max(cell, cv::Scalar(values[t] / top), cell);
    }
    RgbImage out = picture;
    const double alpha = std::clamp(options.opacity, 0.0, 1.0);
    // A page is millions of pixels and the tokens few: the scale is looked up, 1024 levels.
    // The blend is two lookups and an add per channel: the colour's share per level, the picture's per byte value
    // (with the rounding's half folded in).
    constexpr int kLevels = 1024;
    std::vector<std::array<float, 3>> tint(kLevels);
    for (int i = 0; i < kLevels; ++i) {
        const auto colour = heat_colour(static_cast<double>(i) / (kLevels - 1));
        for (int c = 0; c < 3; ++c) tint[static_cast<std::size_t>(i)][static_cast<std::size_t>(c)] = static_cast<float>(colour[static_cast<std::size_t>(c)] * alpha);
    }
    std::array<float, 256> keep{};
    for (int v = 0; v < 256; ++v) keep[static_cast<std::size_t>(v)] = static_cast<float>(v * (1 - alpha) + 0.5);
    for (int y = 0; y < picture.height; ++y) {
        const float* row = field.ptr<float>(y);
        auto* p = &out.pixels[static_cast<std::size_t>(y) * static_cast<std::size_t>(picture.width) * 3];
        for (int x = 0; x < picture.width; ++x, p += 3) {
            if (row[x] < 0) continue;
            const auto& colour = tint[static_cast<std::size_t>(std::min(1.0f, row[x]) * (kLevels - 1) + 0.5f)];
            for (std::size_t c = 0; c < 3; ++c) p[c] = static_cast<std::uint8_t>(keep[p[c]] + colour[c]);
        }
    }
    return out;
}

void save_png(const RgbImage& image, const std::filesystem::path& file) {
    if (image.width < 1 || image.height < 1) throw Error(ErrorKind::format, file.string(), "cannot save an empty picture");
    cv::Mat rgb(image.height, image.width, CV_8UC3, const_cast<std::uint8_t*>(image.pixels.data()));
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    bool written = false;
    try {
        written = cv::imwrite(file.string(), bgr);
    } catch (const cv::Exception& e) {
        throw Error(ErrorKind::io, file.string(), std::string("cannot write the picture: ") + e.what());
    }
    if (!written) throw Error(ErrorKind::io, file.string(), "cannot write the picture (is the folder writable?)");
}

namespace {

nlohmann::json region_json(const ImageRegion& r) {
    if (r.empty()) return nullptr;
    return {r.left, r.top, r.right, r.bottom};
}

nlohmann::json plan_to_json(const StackPlan& plan) {
    nlohmann::json groups = nlohmann::json::array();
    for (const auto& g : plan.groups) {
        groups.push_back({{"label", g.label},
                          {"source", g.source},
                          {"tower", g.tower == Tower::language ? "language" : "vision"},
                          {"layer", g.layer},
                          {"added", g.before_layer ? "before the layer" : "after the layer"},
                          {"first_layer_seeing_it", g.first_layer_seeing_it()},
                          {"ever_added", g.ever_added},
                          {"grid", {g.grid_rows, g.grid_columns}},
                          {"sampling_offset", {g.offset_row, g.offset_column}},
                          {"sampling_stride", {g.stride_rows, g.stride_columns}}});
    }
    return {{"family", plan.family},
            {"variant", plan.variant},
            {"language_layers", plan.language_layers},
            {"vision_layers", plan.vision_layers},
            {"image_size", {plan.image_width, plan.image_height}},
            {"input_grid", {plan.input_rows, plan.input_columns}},
            {"input_tokens", plan.input_tokens()},
            {"groups", groups}};
}

std::string head_name(HeadChoice h) {
    switch (h.reduction) {
        case HeadChoice::Reduction::mean: return "mean";
        case HeadChoice::Reduction::max: return "max";
        case HeadChoice::Reduction::single: return std::to_string(h.head);
    }
    return "?";
}

std::vector<HeadChoice> every_head_choice(std::int64_t heads) {
    std::vector<HeadChoice> out{{HeadChoice::Reduction::mean, 0}, {HeadChoice::Reduction::max, 0}};
    for (std::int64_t h = 0; h < heads; ++h) out.push_back({HeadChoice::Reduction::single, h});
    return out;
}

}  // namespace

std::string stack_plan_json(const StackPlan& plan) { return plan_to_json(plan).dump(2); }

std::string attention_json(const AttentionCapture& c, std::span<const std::size_t> queries, std::span<const std::size_t> layer_indexes) {
    nlohmann::json q = nlohmann::json::array();
    for (const auto i : queries) {
        const auto& query = c.queries.at(i);
        q.push_back({{"kind", query.kind == AttentionQuery::Kind::question ? "question" : "answer"},
                     {"position", query.position},
                     {"token", query.token},
                     {"text", query.text}});
    }
    nlohmann::json images = nlohmann::json::array();
    for (const auto& image : c.images) {
        nlohmann::json regions = nlohmann::json::array();
        for (const auto& r : image.plan.input_regions) regions.push_back(region_json(r));
        images.push_back({{"first_position", image.first_position}, {"plan", plan_to_json(image.plan)}, {"token_regions", regions}});
    }
    nlohmann::json layers = nlohmann::json::array();
    for (const auto li : layer_indexes) {
        nlohmann::json heads = nlohmann::json::object();
        for (const auto& h : every_head_choice(c.heads)) {
            const auto [image_share, rest] = c.shares(queries, li, h);
            heads[head_name(h)] = {{"image_share", image_share}, {"elsewhere", rest}, {"visual", c.map(queries, li, h)}};
        }
        layers.push_back({{"layer", c.layers.at(li)}, {"heads", heads}});
    }
    const nlohmann::json out{{"format", "deepstack-studio-attention"},
                             {"version", 1},
                             {"family", c.family},
                             {"variant", c.variant},
                             {"language_layers", c.language_layers},
                             {"heads", c.heads},
                             {"note", "softmax(QK^T / sqrt(d)) rows of the chosen positions, averaged over them; "
                                      "'visual' has one value per image token, in the order of the images' token_regions"},
                             {"queries", q},
                             {"images", images},
                             {"layers", layers}};
    return out.dump(1);
}

std::string attention_csv(const AttentionCapture& c, std::span<const std::size_t> queries, std::span<const std::size_t> layer_indexes) {
    std::ostringstream out;
    out.precision(8);
    out << "layer,head,image,token,left,top,right,bottom,value\n";
    for (const auto li : layer_indexes) {
        for (const auto& h : every_head_choice(c.heads)) {
            const auto values = c.map(queries, li, h);
            for (std::size_t im = 0; im < c.images.size(); ++im) {
                const auto& image = c.images[im];
                for (std::size_t t = 0; t < image.plan.input_regions.size(); ++t) {
                    const auto& r = image.plan.input_regions[t];
                    out << c.layers[li] << ',' << head_name(h) << ',' << im << ',' << t << ',';
                    if (r.empty()) out << ",,,,";
                    else out << r.left << ',' << r.top << ',' << r.right << ',' << r.bottom << ',';
                    out << values[static_cast<std::size_t>(image.first_column) + t] << '\n';
                }
            }
        }
    }
    return out.str();
}

}  // namespace deepstack

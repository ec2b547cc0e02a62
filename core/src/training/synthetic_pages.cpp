// The synthetic pages: each layout draws its fields with OpenCV's Hershey fonts and records, for every question,
// the printed answer's box. Randomness comes from a splitmix64 stream of our own (the standard distributions differ
// between libraries), seeded by (split, index).
#include "deepstack/synthetic.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <tuple>

#include <opencv2/imgproc.hpp>

#include "deepstack/error.h"

namespace deepstack {

namespace {

class Random {
public:
    explicit Random(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    // Uniform in [low, high], without modulo bias.
    int between(int low, int high) {
        const auto span = static_cast<std::uint64_t>(high - low) + 1;
        const auto limit = ~std::uint64_t{0} - (~std::uint64_t{0} % span);
        std::uint64_t x;
        do x = next();
        while (x >= limit);
        return low + static_cast<int>(x % span);
    }
    template <typename T, std::size_t N>
    const T& pick(const std::array<T, N>& items) { return items[static_cast<std::size_t>(between(0, static_cast<int>(N) - 1))]; }
    std::string digits(int count) {
        std::string s;
        for (int i = 0; i < count; ++i) s += static_cast<char>('0' + between(0, 9));
        return s;
    }
    std::string alnum(int count) {
        static constexpr char kChars[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";  // no I/1, O/0: unambiguous when small
        std::string s;
        for (int i = 0; i < count; ++i) s += kChars[between(0, static_cast<int>(sizeof kChars) - 2)];
        return s;
    }

private:
    std::uint64_t state_;
};

constexpr std::array<const char*, 16> kFirstNames{"Maria", "James", "Aiko", "Omar", "Lena", "Paul", "Sofia", "Ivan",
                                                  "Nina", "Tom", "Ada", "Hugo", "Mila", "Raj", "Elif", "Noah"};
constexpr std::array<const char*, 16> kLastNames{"Lopez", "Smith", "Tanaka", "Haddad", "Berg", "Novak", "Rossi", "Petrov",
                                                 "Kim", "Adams", "Moreau", "Costa", "Weber", "Singh", "Kaya", "Brown"};
constexpr std::array<const char*, 12> kItems{"Paper", "Toner", "Cable", "Lamp", "Chair", "Desk", "Pens", "Tape",
                                             "Mouse", "Screen", "Bag", "Clock"};
constexpr std::array<const char*, 8> kStores{"CORNER SHOP", "FRESH MART", "CITY CAFE", "BOOK NOOK",
                                             "HARDWARE CO", "GREEN GROCER", "QUICK STOP", "TEA HOUSE"};

std::string date(Random& r) {
    char s[16];
    std::snprintf(s, sizeof s, "%04d-%02d-%02d", r.between(2019, 2026), r.between(1, 12), r.between(1, 28));
    return s;
}

std::string amount(Random& r, int max_whole) {
    char s[24];
    std::snprintf(s, sizeof s, "%d.%02d", r.between(1, max_whole), r.between(0, 99));
    return s;
}

// Drawing with the page's two text sizes; every call returns the box the text covers, in page fractions.
class Canvas {
public:
    Canvas(const SyntheticOptions& options, Random& random) : options_(options) {
        const int size = options.page_size;
        // Off-white paper with a faint grain, so that blank is not a constant the model can lean on.
        page_ = cv::Mat(size, size, CV_8UC3, cv::Scalar(246, 244, 240));
        for (int y = 0; y < size; ++y)
            for (int x = 0; x < size; ++x) {
                const int grain = random.between(-4, 4);
                auto& p = page_.at<cv::Vec3b>(y, x);
                for (int c = 0; c < 3; ++c) p[c] = static_cast<std::uint8_t>(std::clamp(p[c] + grain, 0, 255));
            }
        small_ = scale_for(options.field_text_height);
        large_ = scale_for(options.title_text_height);
    }

    ImageRegion text(const std::string& s, double x, double y, bool title = false, cv::Scalar ink = cv::Scalar(25, 25, 30)) {
        // x, y: left and baseline in page fractions.
        const double scale = title ? large_ : small_;
        const int thickness = title ? 2 : 1;
        int baseline = 0;
        const auto size = cv::getTextSize(s, kFont, scale, thickness, &baseline);
        const cv::Point origin(static_cast<int>(std::lround(x * options_.page_size)), static_cast<int>(std::lround(y * options_.page_size)));
        cv::putText(page_, s, origin, kFont, scale, ink, thickness, cv::LINE_AA);
        printed_.push_back({origin.y, origin.x, s});
        const double n = options_.page_size;
        // Each character spans the advance its prefix adds; Hershey glyphs are drawn one after another.
        double left = 0;
        for (std::size_t i = 0; i < s.size(); ++i) {
            int prefix_baseline = 0;
            const double right = cv::getTextSize(s.substr(0, i + 1), kFont, scale, thickness, &prefix_baseline).width;
            if (s[i] != ' ')
                glyphs_.push_back({s[i], (origin.x + (left + right) / 2) / n, (origin.y - size.height / 2.0) / n, size.height / n});
            left = right;
        }
        return {origin.x / n, (origin.y - size.height - 1) / n, (origin.x + size.width + 1) / n, (origin.y + baseline) / n};
    }
    // The width of `s` in page fractions.
    double width(const std::string& s, bool title = false) const {
        int baseline = 0;
        return cv::getTextSize(s, kFont, title ? large_ : small_, title ? 2 : 1, &baseline).width / static_cast<double>(options_.page_size);
    }
    void line(double x0, double y0, double x1, double y1, cv::Scalar colour = cv::Scalar(120, 120, 120)) {
        const double n = options_.page_size;
        cv::line(page_, {static_cast<int>(x0 * n), static_cast<int>(y0 * n)}, {static_cast<int>(x1 * n), static_cast<int>(y1 * n)}, colour, 1, cv::LINE_AA);
    }
    cv::Mat& mat() { return page_; }
    const std::vector<SyntheticGlyph>& glyphs() const { return glyphs_; }
    // Everything printed so far as lines: texts whose baselines lie within a few pixels share a line.
    std::string transcript() const {
        auto texts = printed_;
        std::sort(texts.begin(), texts.end(), [](const Printed& a, const Printed& b) { return std::tie(a.baseline, a.left) < std::tie(b.baseline, b.left); });
        std::string out;
        int line_baseline = -1000;
        std::vector<Printed> line;
        const auto flush = [&] {
            std::sort(line.begin(), line.end(), [](const Printed& a, const Printed& b) { return a.left < b.left; });
            for (std::size_t i = 0; i < line.size(); ++i) out += (i == 0 ? (out.empty() ? "" : "\n") : " ") + line[i].text;
            line.clear();
        };
        for (const auto& t : texts) {
            if (t.baseline - line_baseline > 3) flush(), line_baseline = t.baseline;
            line.push_back(t);
        }
        flush();
        return out;
    }
    RgbImage image() const {
        RgbImage out{page_.cols, page_.rows, std::vector<std::uint8_t>(static_cast<std::size_t>(page_.cols * page_.rows * 3))};
        cv::Mat rgb(page_.rows, page_.cols, CV_8UC3, out.pixels.data());
        page_.copyTo(rgb);  // drawn in RGB order already: colours below are given as (R, G, B)
        return out;
    }

private:
    static constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
    static double scale_for(double cap_height) {
        int baseline = 0;
        return cap_height / cv::getTextSize("X", kFont, 1.0, 1, &baseline).height;
    }
    struct Printed {
        int baseline, left;
        std::string text;
    };
    SyntheticOptions options_;
    cv::Mat page_;
    std::vector<Printed> printed_;
    std::vector<SyntheticGlyph> glyphs_;
    double small_ = 0.3, large_ = 0.7;
};

SyntheticQuestion ask(std::string kind, std::string question, std::string answer, ImageRegion region) {
    return {std::move(kind), true, std::move(question), std::move(answer), region};
}

void invoice(Canvas& c, Random& r, std::vector<SyntheticQuestion>& q) {
    c.text("INVOICE", 0.06, 0.12, true);
    const auto number = "INV-" + r.digits(5);
    const auto when = date(r);
    const std::string who = std::string(r.pick(kFirstNames)) + " " + r.pick(kLastNames);
    // Fields move around a little so that the model must read, not remember a place.
    const double top = 0.20 + r.between(0, 6) / 100.0, left = 0.06 + r.between(0, 4) / 100.0;
    // A value starts in its column, or after its label where larger print makes the label reach past it.
    const auto after = [&](const ImageRegion& label) { return std::max(left + 0.14, label.right + 0.02); };
    const auto number_box = c.text(number, after(c.text("No.", left, top)), top);
    const auto date_box = c.text(when, after(c.text("Date", left, top + 0.07)), top + 0.07);
    const auto name_box = c.text(who, after(c.text("Bill to", left, top + 0.14)), top + 0.14);
    double y = top + 0.25;
    c.line(0.05, y - 0.045, 0.95, y - 0.045);
    double total = 0;
    const int lines = r.between(2, 4);
    for (int i = 0; i < lines; ++i) {
        const auto price = amount(r, 300);
        total += std::stod(price);
        c.text(r.pick(kItems), left, y);
        c.text(price, 0.70, y);
        y += 0.065;
    }
    c.line(0.05, y - 0.04, 0.95, y - 0.04);
    char sum[24];
    std::snprintf(sum, sizeof sum, "%.2f", total);
    c.text("TOTAL", left, y + 0.02);
    const auto total_box = c.text(sum, 0.70, y + 0.02);
    q.push_back(ask("invoice_number", "What is the invoice number?", number, number_box));
    q.push_back(ask("date", "What is the invoice date?", when, date_box));
    q.push_back(ask("name", "Who is the invoice billed to?", who, name_box));
    q.push_back(ask("total", "What is the total?", sum, total_box));
}

void receipt(Canvas& c, Random& r, std::vector<SyntheticQuestion>& q) {
    const std::string store = r.pick(kStores);
    c.text(store, 0.06, 0.12, true);
    double y = 0.22 + r.between(0, 5) / 100.0;
    const auto when = date(r);
    const auto date_box = c.text(when, 0.08, y);
    y += 0.09;
    double total = 0;
    const int lines = r.between(2, 5);
    for (int i = 0; i < lines; ++i) {
        const auto price = amount(r, 40);
        total += std::stod(price);
        c.text(r.pick(kItems), 0.08, y);
        c.text(price, 0.66, y);
        y += 0.06;
    }
    char sum[24];
    std::snprintf(sum, sizeof sum, "%.2f", total);
    c.line(0.06, y - 0.035, 0.94, y - 0.035);
    c.text("TOTAL", 0.08, y + 0.02);
    const auto total_box = c.text(sum, 0.66, y + 0.02);
    const auto card = r.digits(4);
    c.text("CARD", 0.08, y + 0.10);
    const auto card_box = c.text("****" + card, 0.30, y + 0.10);
    q.push_back(ask("total", "What is the total?", sum, total_box));
    q.push_back(ask("date", "What is the date on the receipt?", when, date_box));
    q.push_back(ask("code", "What are the last four digits of the card?", card, card_box));
}

void form(Canvas& c, Random& r, std::vector<SyntheticQuestion>& q) {
    c.text("APPLICATION", 0.06, 0.12, true);
    const std::string who = std::string(r.pick(kFirstNames)) + " " + r.pick(kLastNames);
    const auto id = r.alnum(4) + "-" + r.digits(2);
    const auto born = date(r);
    const double top = 0.24 + r.between(0, 8) / 100.0;
    const std::array<std::pair<const char*, std::string>, 3> rows{{{"Name", who}, {"ID", id}, {"Born", born}}};
    std::array<ImageRegion, 3> boxes;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const double y = top + static_cast<double>(i) * 0.12;
        c.text(rows[i].first, 0.07, y);
        boxes[i] = c.text(rows[i].second, 0.30, y);
        c.line(0.29, y + 0.02, 0.93, y + 0.02);
    }
    q.push_back(ask("name", "What name is on the form?", who, boxes[0]));
    q.push_back(ask("code", "What is the ID on the form?", id, boxes[1]));
    q.push_back(ask("date", "What is the date of birth?", born, boxes[2]));
}

void label(Canvas& c, Random& r, std::vector<SyntheticQuestion>& q) {
    c.text("SHIP TO", 0.06, 0.13, true);
    const std::string who = std::string(r.pick(kFirstNames)) + " " + r.pick(kLastNames);
    const auto street = std::to_string(r.between(1, 999)) + " " + r.pick(kLastNames) + " St";
    const auto tracking = "1Z" + r.alnum(8);
    char weight[16];
    std::snprintf(weight, sizeof weight, "%d.%d kg", r.between(0, 30), r.between(0, 9));
    const auto name_box = c.text(who, 0.08, 0.26);
    c.text(street, 0.08, 0.33);
    c.line(0.05, 0.42, 0.95, 0.42);
    c.text("TRACKING", 0.08, 0.52);
    const auto tracking_box = c.text(tracking, 0.08, 0.60);
    c.text("WEIGHT", 0.08, 0.72);
    const auto weight_box = c.text(weight, 0.40, 0.72);
    // A barcode-like stripe: large, readable at any resolution, and useless for the answers.
    for (int i = 0; i < 40; ++i)
        if (r.between(0, 1)) c.line(0.08 + i * 0.02, 0.80, 0.08 + i * 0.02, 0.93, cv::Scalar(20, 20, 20));
    q.push_back(ask("name", "Who is the parcel for?", who, name_box));
    q.push_back(ask("tracking", "What is the tracking number?", tracking, tracking_box));
    q.push_back(ask("weight", "What is the weight?", weight, weight_box));
}

void table(Canvas& c, Random& r, std::vector<SyntheticQuestion>& q) {
    c.text("TABLE", 0.06, 0.12, true);
    const double left = 0.22, top = 0.30, cell_w = 0.22, cell_h = 0.14;
    for (int j = 0; j < 3; ++j) c.text(std::to_string(j + 1), left + j * cell_w + 0.06, top - 0.05);
    std::array<std::array<std::string, 3>, 3> values;
    std::array<std::array<ImageRegion, 3>, 3> boxes;
    for (int i = 0; i < 3; ++i) {
        c.text(std::string(1, static_cast<char>('A' + i)), 0.08, top + i * cell_h + 0.07);
        for (int j = 0; j < 3; ++j) {
            values[i][j] = std::to_string(r.between(10, 999));
            boxes[i][j] = c.text(values[i][j], left + j * cell_w + 0.04, top + i * cell_h + 0.07);
        }
    }
    for (int k = 0; k <= 3; ++k) {
        c.line(left, top + k * cell_h - 0.02, left + 3 * cell_w, top + k * cell_h - 0.02);
        c.line(left + k * cell_w, top - 0.02, left + k * cell_w, top + 3 * cell_h - 0.02);
    }
    for (int n = 0; n < 2; ++n) {
        const int i = r.between(0, 2), j = r.between(0, 2);
        q.push_back(ask("cell", "What is in row " + std::string(1, static_cast<char>('A' + i)) + ", column " + std::to_string(j + 1) + "?",
                        values[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)], boxes[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)]));
    }
}

// Returns the shapes in reading order ("red circle, blue square, ..."): by rows a shape high, then left to right.
std::string scene(Canvas& c, Random& r, std::vector<SyntheticQuestion>& q) {
    struct Colour {
        const char* name;
        cv::Scalar rgb;
    };
    static constexpr std::array<const char*, 3> kShapes{"circle", "square", "triangle"};
    static const std::array<Colour, 4> kColours{{{"red", {210, 40, 40}}, {"green", {40, 160, 60}}, {"blue", {40, 70, 200}}, {"yellow", {230, 200, 30}}}};
    const int count = r.between(2, 6);
    std::array<std::array<int, 4>, 3> tally{};
    std::vector<cv::Rect> placed;
    std::vector<std::tuple<int, int, std::string>> listed;  // row, left, "colour shape"
    const int n = c.mat().cols;
    for (int k = 0; k < count; ++k) {
        const int shape = r.between(0, 2), colour = r.between(0, 3);
        const int side = n / 7;
        cv::Rect box;
        for (int attempt = 0; attempt < 50; ++attempt) {  // no overlaps: counting must be possible
            box = cv::Rect(r.between(4, n - side - 4), r.between(4, n - side - 4), side, side);
            if (std::none_of(placed.begin(), placed.end(), [&](const cv::Rect& p) { return (p & box).area() > 0; })) break;
        }
        placed.push_back(box);
        const auto ink = kColours[static_cast<std::size_t>(colour)].rgb;
        if (shape == 0) cv::circle(c.mat(), (box.tl() + box.br()) / 2, side / 2, ink, cv::FILLED, cv::LINE_AA);
        else if (shape == 1) cv::rectangle(c.mat(), box, ink, cv::FILLED);
        else {
            const std::vector<cv::Point> tri{{box.x + side / 2, box.y}, {box.x, box.y + side}, {box.x + side, box.y + side}};
            cv::fillConvexPoly(c.mat(), tri, ink, cv::LINE_AA);
        }
        ++tally[static_cast<std::size_t>(shape)][static_cast<std::size_t>(colour)];
        listed.emplace_back((box.y + side / 2) / side, box.x, std::string(kColours[static_cast<std::size_t>(colour)].name) + " " + kShapes[static_cast<std::size_t>(shape)]);
    }
    std::sort(listed.begin(), listed.end());
    std::string shapes;
    for (const auto& [row, left, what] : listed) shapes += (shapes.empty() ? "" : ", ") + what;
    const int shape = r.between(0, 2), colour = r.between(0, 3);
    SyntheticQuestion how_many{"count", false,
                               std::string("How many ") + kColours[static_cast<std::size_t>(colour)].name + " " + kShapes[static_cast<std::size_t>(shape)] + "s are there?",
                               std::to_string(tally[static_cast<std::size_t>(shape)][static_cast<std::size_t>(colour)]), {}};
    q.push_back(how_many);
    q.push_back({"count", false, "How many shapes are there?", std::to_string(count), {}});
    // The colour of a shape that occurs exactly once, when there is one.
    for (int s = 0; s < 3; ++s) {
        int total = 0, which = 0;
        for (int k = 0; k < 4; ++k) total += tally[static_cast<std::size_t>(s)][static_cast<std::size_t>(k)], which = tally[static_cast<std::size_t>(s)][static_cast<std::size_t>(k)] ? k : which;
        if (total == 1) {
            q.push_back({"colour", false, std::string("What colour is the ") + kShapes[static_cast<std::size_t>(s)] + "?", kColours[static_cast<std::size_t>(which)].name, {}});
            break;
        }
    }
    return shapes;
}

}  // namespace

std::vector<std::string> synthetic_layouts() { return {"invoice", "receipt", "form", "label", "table", "scene"}; }

std::vector<std::string> synthetic_example_questions() {
    return {"Read the page.",           "What is the total?",          "What is the invoice number?", "What is the date of birth?",
            "What is the ID on the form?", "What is the tracking number?", "What is the weight?",         "What is in row A, column 2?",
            "How many shapes are there?"};
}

SyntheticPage synthetic_page(SyntheticSplit split, std::uint64_t index, const SyntheticOptions& options) {
    if (options.page_size < 64 || options.page_size > 4096)
        throw Error(ErrorKind::config, "", "synthetic pages are 64 to 4096 pixels, not " + std::to_string(options.page_size));
    if (!(options.field_text_height >= kSmallestFieldTextHeight && options.field_text_height <= kLargestFieldTextHeight)) {
        char message[96];
        std::snprintf(message, sizeof message, "the small print is %g to %g pixels high, not %g", kSmallestFieldTextHeight,
                      kLargestFieldTextHeight, options.field_text_height);
        throw Error(ErrorKind::config, "", message);
    }
    // Separate streams: the held-out pages come from seeds the training split never draws.
    Random random(index * 2 + (split == SyntheticSplit::held_out ? 1 : 0) + 0x5DEECE66Dull);
    (void)random.next();
    const auto layouts = synthetic_layouts();
    SyntheticPage page;
    page.layout = layouts[static_cast<std::size_t>(random.between(0, static_cast<int>(layouts.size()) - 1))];
    Canvas canvas(options, random);
    if (page.layout == "invoice") invoice(canvas, random, page.questions);
    else if (page.layout == "receipt") receipt(canvas, random, page.questions);
    else if (page.layout == "form") form(canvas, random, page.questions);
    else if (page.layout == "label") label(canvas, random, page.questions);
    else if (page.layout == "table") table(canvas, random, page.questions);
    else page.reading = {"reading", false, "List the shapes.", scene(canvas, random, page.questions), {}};
    if (page.layout != "scene") page.reading = {"reading", true, "Read the page.", canvas.transcript(), {0, 0, 1, 1}};
    page.image = canvas.image();
    page.glyphs = canvas.glyphs();
    return page;
}

}  // namespace deepstack

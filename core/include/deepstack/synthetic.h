// Synthetic training and evaluation pages for the demo model: documents (invoices, receipts, forms, shipping
// labels, tables) whose fields are printed too small for the low-resolution view and large enough for the
// high-resolution crops, and simple scenes (shapes, colours, counts). Each page comes with questions, their exact
// answers and where on the page the answer is printed. Seeded and reproducible; the held-out split is drawn from
// its own random streams, so training never sees its pages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "deepstack/image.h"
#include "deepstack/stack_plan.h"

namespace deepstack {

enum class SyntheticSplit { train, held_out };

// The small print's cap heights the layouts have room for (their lines collide above the largest).
constexpr double kSmallestFieldTextHeight = 3.0, kLargestFieldTextHeight = 10.0;

struct SyntheticOptions {
    int page_size = 224;              // square pages, in pixels
    double field_text_height = 6.5;   // cap height of the small print, in pixels of the page
    double title_text_height = 16.0;  // titles stay readable at any resolution
};

struct SyntheticQuestion {
    std::string kind;      // "invoice_number", "total", "date", "name", "code", "tracking", "weight", "cell", "count", "colour"
    bool small_print = false;  // the answer is printed in the small text
    std::string question;
    std::string answer;
    ImageRegion region;    // where the answer is on the page (empty when it is not printed: counts, colours)
};

// One printed character: where its centre lies, in page fractions, and how tall the text it belongs to is.
struct SyntheticGlyph {
    char character = ' ';
    double x = 0, y = 0;
    double height = 0;  // cap height, page fractions
};

struct SyntheticPage {
    std::string layout;  // "invoice", "receipt", "form", "label", "table", "scene"
    RgbImage image;
    std::vector<SyntheticQuestion> questions;
    // For training only (never evaluated): a question whose answer is everything on the page, the printed lines
    // top to bottom, each left to right ("Read the page."), or a scene's shapes in reading order ("List the
    // shapes."). Every token of it depends on the picture, unlike the fixed wording around a field's value.
    SyntheticQuestion reading;
    // For training only: every printed character (spaces left out), so that the vision tower can be taught to see
    // characters where they are (TrainingOptions::glyph_loss) instead of waiting for the answers' faint signal.
    std::vector<SyntheticGlyph> glyphs;
};

std::vector<std::string> synthetic_layouts();
// Questions worded as the pages ask them, one or two per kind, and the reading turn's: what a model trained on these
// pages answers (its folder's sample_questions.json, which the app offers).
std::vector<std::string> synthetic_example_questions();
// Page `index` of `split`: the same arguments give the same page, byte for byte, on every machine.
SyntheticPage synthetic_page(SyntheticSplit split, std::uint64_t index, const SyntheticOptions& options = {});

}  // namespace deepstack

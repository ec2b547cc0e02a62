// Boxes and points in an answer: Qwen3-VL answers "where" questions with JSON objects holding `bbox_2d`
// [x1, y1, x2, y2] or `point_2d` [x, y] in 0..1000 coordinates of the picture (with a `label`), and the older
// <|object_ref_start|>label<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|> form. Plain data, no LibTorch.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "deepstack/stack_plan.h"

namespace deepstack {

struct GroundedItem {
    enum class Kind { box, point };
    Kind kind = Kind::box;
    std::string label;
    // As the model wrote them, 0..1000 of the picture's width and height; a point has x2 == x1 and y2 == y1.
    double x1 = 0, y1 = 0, x2 = 0, y2 = 0;
    // Where the item is in the answer's text (bytes), to find it again there.
    std::size_t text_begin = 0, text_end = 0;

    // The part of the picture, in fractions of its width and height, corners ordered and clamped to 0..1 (a
    // point: an empty region at it).
    ImageRegion region() const;
};

// Every box and point in `answer`, in the order written. Text that is not a box or a point is ignored, so an answer
// cut off in the middle of a list still gives the items before the cut.
std::vector<GroundedItem> parse_grounding(std::string_view answer);

}  // namespace deepstack

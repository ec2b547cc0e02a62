// Reading boxes and points out of an answer. The model's JSON is often inside a ```json fence, with text around
// it, or cut off at the token limit, so every balanced {...} is tried on its own rather than the answer as a whole.
#include "deepstack/grounding.h"

#include <algorithm>
#include <cstdlib>

#include <nlohmann/json.hpp>

namespace deepstack {

ImageRegion GroundedItem::region() const {
    const auto fraction = [](double v) { return std::clamp(v / 1000.0, 0.0, 1.0); };
    return {fraction(std::min(x1, x2)), fraction(std::min(y1, y2)), fraction(std::max(x1, x2)), fraction(std::max(y1, y2))};
}

namespace {

// The index just past the '}' that closes the '{' at `open`, skipping braces inside JSON strings; npos if it is
// not closed within kLongestObject bytes. One box is some 80 bytes; an object around a list of them need not be
// read whole, since its items are found one by one, and the bound keeps a long answer full of '{' linear.
constexpr std::size_t kLongestObject = 2048;
std::size_t closing_brace(std::string_view text, std::size_t open) {
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = open; i < std::min(text.size(), open + kLongestObject); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{') {
            ++depth;
        } else if (c == '}') {
            if (--depth == 0) return i + 1;
        }
    }
    return std::string_view::npos;
}

bool numbers(const nlohmann::json& value, std::size_t count, std::vector<double>& out) {
    if (!value.is_array() || value.size() != count) return false;
    out.clear();
    for (const auto& v : value) {
        if (!v.is_number()) return false;
        out.push_back(v.get<double>());
    }
    return true;
}

std::string label_of(const nlohmann::json& object) {
    for (const char* key : {"label", "text_content", "text", "name", "object"})
        if (const auto it = object.find(key); it != object.end() && it->is_string()) return it->get<std::string>();
    return {};
}

// One JSON object, if it holds a box or a point.
bool from_json(const nlohmann::json& object, GroundedItem& item) {
    if (!object.is_object()) return false;
    std::vector<double> v;
    for (const char* key : {"bbox_2d", "bbox"}) {
        if (const auto it = object.find(key); it != object.end() && numbers(*it, 4, v)) {
            item.kind = GroundedItem::Kind::box;
            item.x1 = v[0], item.y1 = v[1], item.x2 = v[2], item.y2 = v[3];
            item.label = label_of(object);
            return true;
        }
    }
    for (const char* key : {"point_2d", "point"}) {
        if (const auto it = object.find(key); it != object.end() && numbers(*it, 2, v)) {
            item.kind = GroundedItem::Kind::point;
            item.x1 = item.x2 = v[0];
            item.y1 = item.y2 = v[1];
            item.label = label_of(object);
            return true;
        }
    }
    return false;
}

// The numbers in "(x1,y1),(x2,y2)" or "x1, y1, x2, y2".
std::vector<double> all_numbers(std::string_view text) {
    std::vector<double> out;
    std::string s(text);
    const char* p = s.c_str();
    while (*p != '\0') {
        if ((*p >= '0' && *p <= '9') || (*p == '-' && p[1] >= '0' && p[1] <= '9') || (*p == '.' && p[1] >= '0' && p[1] <= '9')) {
            char* end = nullptr;
            out.push_back(std::strtod(p, &end));
            p = end;
        } else {
            ++p;
        }
    }
    return out;
}

constexpr std::string_view kRefStart = "<|object_ref_start|>", kRefEnd = "<|object_ref_end|>";
constexpr std::string_view kBoxStart = "<|box_start|>", kBoxEnd = "<|box_end|>";

}  // namespace

std::vector<GroundedItem> parse_grounding(std::string_view answer) {
    std::vector<GroundedItem> items;
    std::size_t i = 0;
    while (i < answer.size()) {
        if (answer.compare(i, kBoxStart.size(), kBoxStart) == 0 || answer.compare(i, kRefStart.size(), kRefStart) == 0) {
            // <|object_ref_start|>label<|object_ref_end|> is optional before the box.
            GroundedItem item;
            item.text_begin = i;
            auto at = i;
            if (answer.compare(at, kRefStart.size(), kRefStart) == 0) {
                const auto end = answer.find(kRefEnd, at);
                if (end == std::string_view::npos) break;
                item.label = std::string(answer.substr(at + kRefStart.size(), end - at - kRefStart.size()));
                at = end + kRefEnd.size();
                while (at < answer.size() && (answer[at] == ' ' || answer[at] == '\n')) ++at;
                if (answer.compare(at, kBoxStart.size(), kBoxStart) != 0) {  // a reference without a box
                    i = at;
                    continue;
                }
            }
            const auto end = answer.find(kBoxEnd, at);
            if (end == std::string_view::npos) break;
            const auto v = all_numbers(answer.substr(at + kBoxStart.size(), end - at - kBoxStart.size()));
            item.text_end = end + kBoxEnd.size();
            const auto next = item.text_end;
            if (v.size() == 4) {
                item.x1 = v[0], item.y1 = v[1], item.x2 = v[2], item.y2 = v[3];
                items.push_back(std::move(item));
            } else if (v.size() == 2) {
                item.kind = GroundedItem::Kind::point;
                item.x1 = item.x2 = v[0];
                item.y1 = item.y2 = v[1];
                items.push_back(std::move(item));
            }
            i = next;
            continue;
        }
        if (answer[i] == '{') {
            const auto end = closing_brace(answer, i);
            const auto candidate = end == std::string_view::npos ? std::string_view() : answer.substr(i, end - i);
            // Only an object that names a box or a point is worth parsing (most braces in an answer are not).
            if (candidate.find("bbox") != std::string_view::npos || candidate.find("point") != std::string_view::npos) {
                GroundedItem item;
                const auto parsed = nlohmann::json::parse(candidate, nullptr, false);
                if (!parsed.is_discarded() && from_json(parsed, item)) {
                    item.text_begin = i;
                    item.text_end = end;
                    items.push_back(std::move(item));
                    i = end;
                    continue;
                }
            }
        }
        ++i;
    }
    return items;
}

}  // namespace deepstack

// The vision pass of the last pictures a family encoded, kept for the next turn that shows exactly the same ones:
// another question about the same page in a new conversation, a question asked again, an evaluation's several
// questions per page. The pictures are compared byte for byte, so a hit skips the same computation and is never a
// near match. One entry: it holds what the conversation that made it holds already. Internal.
#pragma once

#include <algorithm>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "deepstack/image.h"

namespace deepstack::engine {

// `Encoded` is what a family computes from a turn's pictures; it must be cheap to copy (tensors share storage) and
// never written in place by its users.
template <typename Encoded>
class RecentVision {
public:
    std::optional<Encoded> find(const std::vector<RgbImage>& images) const {
        const std::lock_guard lock(mutex_);
        if (!entry_ || !same_pictures(entry_->images, images)) return std::nullopt;
        return entry_->encoded;
    }

    void keep(const std::vector<RgbImage>& images, Encoded encoded) {
        const std::lock_guard lock(mutex_);
        entry_.reset();  // the old pictures go before the copy of the new ones is made
        entry_ = Entry{images, std::move(encoded)};
    }

private:
    static bool same_pictures(const std::vector<RgbImage>& a, const std::vector<RgbImage>& b) {
        return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const RgbImage& x, const RgbImage& y) {
            return x.width == y.width && x.height == y.height && x.pixels == y.pixels;
        });
    }

    struct Entry {
        std::vector<RgbImage> images;
        Encoded encoded;
    };
    mutable std::mutex mutex_;
    std::optional<Entry> entry_;
};

}  // namespace deepstack::engine

#include "RgbImages.h"

#include <cstring>

namespace deepstack::ui {

QImage toQImage(const RgbImage& image) {
    QImage out(image.width, image.height, QImage::Format_RGB888);
    const auto row = static_cast<std::size_t>(image.width) * 3;
    for (int y = 0; y < image.height; ++y) std::memcpy(out.scanLine(y), image.pixels.data() + row * static_cast<std::size_t>(y), row);
    return out;
}

RgbImage toRgbImage(const QImage& source) {
    const auto image = source.convertToFormat(QImage::Format_RGB888);
    const auto row = static_cast<std::size_t>(image.width()) * 3;
    RgbImage rgb{image.width(), image.height(), std::vector<std::uint8_t>(row * static_cast<std::size_t>(image.height()))};
    for (int y = 0; y < image.height(); ++y) std::memcpy(rgb.pixels.data() + row * static_cast<std::size_t>(y), image.constScanLine(y), row);
    return rgb;
}

}  // namespace deepstack::ui

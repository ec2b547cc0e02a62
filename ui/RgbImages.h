// Pictures between the core (RgbImage: packed RGB rows) and Qt (QImage: rows padded to 4 bytes).
#pragma once

#include <QImage>

#include "deepstack/image.h"

namespace deepstack::ui {

QImage toQImage(const RgbImage& image);         // a deep copy, RGB888
RgbImage toRgbImage(const QImage& image);       // any format, converted to RGB888 first

}  // namespace deepstack::ui

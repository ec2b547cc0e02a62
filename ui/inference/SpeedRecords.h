// How fast a model ran on this machine, kept across sessions per model folder, device and precision: vision (ms a
// picture token), prefill (ms a prompt token) and decode (tokens a second). The first load of a model on a device
// measures them with a short question about a page (MainWindow's calibration, after one to warm up); every answer
// moves them half way. The budget line before sending and the model manager's verdict read them.
#pragma once

#include <QImage>
#include <QString>

#include <optional>

#include "chat/ChatTypes.h"

namespace deepstack::ui {

struct SpeedRates {
    double visionMsPerImageToken = 0, prefillMsPerToken = 0, decodeTokensPerSecond = 0;
    // The time to the first word for `imageTokens` of pictures and `textTokens` of words, in seconds; without the
    // vision pass when the model keeps it from the same pictures just before (`visionKept`).
    double secondsToFirstWord(qint64 imageTokens, qint64 textTokens, bool visionKept = false) const {
        const double vision = visionKept ? 0.0 : visionMsPerImageToken * static_cast<double>(imageTokens);
        return (vision + prefillMsPerToken * static_cast<double>(imageTokens + textTokens)) / 1000.0;
    }
};

// "40 ms", "2.4 s", "31 s": a small model's whole question takes milliseconds.
QString describeDuration(double seconds);

// The page a model's untimed first pass and its speed measurement read: an A4 page at `dpi` with lines of dark
// marks (the picture's own size costs time too, resizing it to the model's views, so rates measured on it hold for
// pages of that DPI). `marked` blackens one pixel: a model keeps the vision pass of the very same pictures.
QImage speedProbePage(double dpi, bool marked = false);

std::optional<SpeedRates> keptSpeed(const QString& folder, const QString& device, const QString& compute);
// Moves the kept rates half way to what `timings` measured (the first measurement is kept as it is).
void rememberSpeed(const QString& folder, const QString& device, const QString& compute, const MessageTimings& timings);

}  // namespace deepstack::ui

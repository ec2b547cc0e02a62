#include "inference/SpeedRecords.h"

#include <QCryptographicHash>
#include <QColor>
#include <QFileInfo>
#include <QPainter>
#include <QSettings>

#include <algorithm>
#include <cmath>

namespace deepstack::ui {

namespace {
QString speedKey(const QString& folder, const QString& device, const QString& compute) {
    const auto id = QCryptographicHash::hash((QFileInfo(folder).absoluteFilePath() + "|" + device + "|" + compute).toUtf8(), QCryptographicHash::Sha1).toHex();
    return "speed/" + id;
}
}  // namespace

QString describeDuration(double seconds) {
    if (seconds < 1) return QString("%1 ms").arg(std::max(1.0, std::round(seconds * 1000)), 0, 'f', 0);
    return QString("%1 s").arg(seconds, 0, 'f', seconds < 10 ? 1 : 0);
}

QImage speedProbePage(double dpi, bool marked) {
    QImage page(static_cast<int>(8.27 * dpi), static_cast<int>(11.69 * dpi), QImage::Format_RGB888);
    page.fill(Qt::white);
    {
        QPainter painter(&page);
        painter.scale(dpi / 72.0, dpi / 72.0);
        for (int line = 0; line < 40; ++line)
            for (int word = 0; word < 9; ++word) painter.fillRect(50 + word * 58 + (line * 7) % 13, 60 + line * 19, 30 + (line * word) % 21, 8, QColor(40, 40, 40));
    }
    if (marked) page.setPixelColor(0, 0, Qt::black);
    return page;
}

std::optional<SpeedRates> keptSpeed(const QString& folder, const QString& device, const QString& compute) {
    QSettings settings;
    const auto key = speedKey(folder, device, compute);
    if (!settings.contains(key + "/prefillMsPerToken")) return std::nullopt;
    return SpeedRates{settings.value(key + "/visionMsPerImageToken").toDouble(), settings.value(key + "/prefillMsPerToken").toDouble(),
                      settings.value(key + "/decodeTokensPerSecond").toDouble()};
}

void rememberSpeed(const QString& folder, const QString& device, const QString& compute, const MessageTimings& t) {
    if (t.promptTokens <= 0 || t.prefillMs <= 0) return;
    // Each answer moves the kept rates half way: the latest counts most, one slow answer does not decide.
    SpeedRates measured{t.imageTokens > 0 && !t.visionReused ? t.visionMs / static_cast<double>(t.imageTokens) : 0.0, t.prefillMs / static_cast<double>(t.promptTokens),
                        t.decodeTokensPerSecond};
    if (const auto kept = keptSpeed(folder, device, compute)) {
        // A reused vision pass measured a comparison of pictures, not the tower.
        if (t.imageTokens <= 0 || t.visionReused) measured.visionMsPerImageToken = kept->visionMsPerImageToken;
        measured = {(measured.visionMsPerImageToken + kept->visionMsPerImageToken) / 2, (measured.prefillMsPerToken + kept->prefillMsPerToken) / 2,
                    measured.decodeTokensPerSecond > 0 ? (measured.decodeTokensPerSecond + kept->decodeTokensPerSecond) / 2 : kept->decodeTokensPerSecond};
    }
    QSettings settings;
    const auto key = speedKey(folder, device, compute);
    settings.setValue(key + "/visionMsPerImageToken", measured.visionMsPerImageToken);
    settings.setValue(key + "/prefillMsPerToken", measured.prefillMsPerToken);
    settings.setValue(key + "/decodeTokensPerSecond", measured.decodeTokensPerSecond);
}

}  // namespace deepstack::ui

// "1 page", "3 pages": the app ships no translations, so tr()'s %n alone would print "page(s)" in English.
#pragma once

#include <QString>

namespace deepstack::ui {

inline QString counted(qsizetype n, const QString& one, const QString& many) {
    return QStringLiteral("%1 %2").arg(n).arg(n == 1 ? one : many);
}

}  // namespace deepstack::ui

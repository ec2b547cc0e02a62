// A read-only view of `inspect` for one model folder: family, sizes, DeepStack plan, memory, problems.
#pragma once

#include <QDialog>

namespace deepstack {
struct InspectReport;
}

namespace deepstack::ui {

class ModelReportDialog : public QDialog {
    Q_OBJECT
public:
    ModelReportDialog(const InspectReport& report, QWidget* parent = nullptr);
};

}  // namespace deepstack::ui

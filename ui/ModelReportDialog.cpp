#include "ModelReportDialog.h"

#include <QDialogButtonBox>
#include <QFontDatabase>
#include <QLabel>
#include <QPlainTextEdit>
#include <QVBoxLayout>

#include "Counted.h"
#include "deepstack/inspect.h"

namespace deepstack::ui {

ModelReportDialog::ModelReportDialog(const InspectReport& report, QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("Model folder: %1").arg(QString::fromStdString(report.folder.filename().string())));
    auto* layout = new QVBoxLayout(this);

    QString headline;
    if (report.family.empty())
        headline = tr("<b>Not a model this version can use.</b>");
    else if (!report.ok())
        headline = tr("<b>%1</b>: %2 found, see below.")
                       .arg(QString::fromStdString(report.display_name).toHtmlEscaped(),
                            counted(static_cast<qsizetype>(report.problems.size()), tr("problem"), tr("problems")));
    else if (!report.runnable)
        headline = tr("<b>%1</b>: %2").arg(QString::fromStdString(report.display_name).toHtmlEscaped(),
                                          QString::fromStdString(report.not_runnable_reason).toHtmlEscaped());
    else
        headline = tr("<b>%1</b>, %2 parameters: ready to load.")
                       .arg(QString::fromStdString(report.display_name).toHtmlEscaped(),
                            QString::fromStdString(human_count(report.total_parameters)));
    auto* summary = new QLabel(headline, this);
    summary->setWordWrap(true);
    layout->addWidget(summary);

    auto* details = new QPlainTextEdit(QString::fromStdString(to_text(report)), this);
    details->setReadOnly(true);
    details->setLineWrapMode(QPlainTextEdit::NoWrap);
    details->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    layout->addWidget(details, 1);

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    layout->addWidget(buttons);
    resize(820, 560);
}

}  // namespace deepstack::ui

#include "workspace/WorkspacePanel.h"

#include <QComboBox>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QLabel>
#include <QListView>
#include <QSplitter>
#include <QStackedWidget>
#include <QToolButton>
#include <QVBoxLayout>

#include "workspace/PageView.h"
#include "workspace/WorkspaceDocument.h"
#include "workspace/WorkspaceModel.h"

namespace deepstack::ui {

WorkspacePanel::WorkspacePanel(WorkspaceModel& model, QWidget* parent) : QWidget(parent), model_(model) {
    setObjectName("workspace");
    passwordPrompt_ = [this](const QString& fileName, bool refusedBefore) -> std::optional<QString> {
        bool ok = false;
        const auto label = refusedBefore ? tr("That password is not right. The password of %1:").arg(fileName)
                                         : tr("%1 is protected by a password. Its password:").arg(fileName);
        const auto password = QInputDialog::getText(this, tr("Password"), label, QLineEdit::Password, {}, &ok);
        return ok ? std::optional<QString>(password) : std::nullopt;
    };
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 0, 6);

    auto* bar = new QHBoxLayout;
    auto* zoomOut = new QToolButton(this);
    zoomOut->setText("−");
    zoomOut->setToolTip(tr("Zoom out (Ctrl+wheel)"));
    auto* zoomIn = new QToolButton(this);
    zoomIn->setText("+");
    zoomIn->setToolTip(tr("Zoom in (Ctrl+wheel)"));
    auto* fit = new QToolButton(this);
    fit->setText(tr("Fit width"));
    zoomLabel_ = new QLabel(this);
    zoomLabel_->setMinimumWidth(48);
    dpi_ = new QComboBox(this);
    dpi_->setObjectName("renderDpi");
    for (const int dpi : {72, 100, 144, 200, 300}) dpi_->addItem(tr("%1 DPI").arg(dpi), dpi);
    dpi_->setCurrentIndex(2);
    dpi_->setToolTip(tr("The resolution PDF pages are rendered at for the model. Higher shows small print better "
                        "but costs image tokens (the model resizes to its own budget)."));
    bar->addWidget(zoomOut);
    bar->addWidget(zoomIn);
    bar->addWidget(fit);
    bar->addWidget(zoomLabel_);
    bar->addStretch(1);
    bar->addWidget(new QLabel(tr("Pages for the model at"), this));
    bar->addWidget(dpi_);
    layout->addLayout(bar);

    stack_ = new QStackedWidget(this);
    auto* hint = new QLabel(tr("<h2>DeepStack Studio</h2>"
                               "<p>Ask questions about your documents and photos, fully offline.</p>"
                               "<p>Open a PDF or a picture with <b>File › Open…</b> (Ctrl+O) or drop it here,<br>"
                               "load a model with <b>Model › Models…</b>, tick the pages to ask about,<br>"
                               "and type your question on the right.</p>"),
                            stack_);
    hint->setObjectName("workspaceHint");
    hint->setAlignment(Qt::AlignCenter);
    stack_->addWidget(hint);

    auto* split = new QSplitter(Qt::Horizontal, stack_);
    pages_ = new QListView(split);
    pages_->setObjectName("pageList");
    pages_->setModel(&model_);
    pages_->setIconSize({WorkspaceModel::kThumbnailSide, WorkspaceModel::kThumbnailSide});
    // Thumbnails in one column with the name under each.
    pages_->setViewMode(QListView::IconMode);
    pages_->setFlow(QListView::TopToBottom);
    pages_->setWrapping(false);
    pages_->setMovement(QListView::Static);
    pages_->setResizeMode(QListView::Adjust);
    pages_->setWordWrap(false);
    pages_->setTextElideMode(Qt::ElideMiddle);  // a long name keeps its page number: "annual-re…pdf · p. 12"
    pages_->setGridSize(WorkspaceModel::kCellSize + QSize(4, 4));
    pages_->setUniformItemSizes(true);  // only the rows in view ask for their thumbnail
    pageView_ = new PageView(split);
    split->addWidget(pages_);
    split->addWidget(pageView_);
    split->setStretchFactor(1, 1);
    split->setSizes({190, 640});
    stack_->addWidget(split);
    layout->addWidget(stack_, 1);

    connect(zoomIn, &QToolButton::clicked, pageView_, &PageView::zoomIn);
    connect(zoomOut, &QToolButton::clicked, pageView_, &PageView::zoomOut);
    connect(fit, &QToolButton::clicked, pageView_, &PageView::fitWidth);
    connect(pageView_, &PageView::zoomChanged, this, [this](double zoom) { zoomLabel_->setText(QString("%1 %").arg(qRound(zoom * 100))); });
    connect(dpi_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] { Q_EMIT renderDpiChanged(renderDpi()); });
    connect(pages_->selectionModel(), &QItemSelectionModel::currentChanged, this, &WorkspacePanel::showCurrent);
    connect(&model_, &QAbstractItemModel::modelReset, this, [this] {
        stack_->setCurrentIndex(model_.rowCount() > 0 ? 1 : 0);
        if (model_.rowCount() == 0) pageView_->clearPage();
    });
}

int WorkspacePanel::openFiles(const QStringList& paths) {
    int opened = 0;
    int firstRow = -1;
    for (const auto& path : paths) {
        QString error;
        bool needsPassword = false;
        int row = model_.openFile(path, &error, {}, &needsPassword);
        for (bool refused = false; row < 0 && needsPassword; refused = true) {
            const auto password = passwordPrompt_(QFileInfo(path).fileName(), refused);
            if (!password) break;
            needsPassword = false;
            row = model_.openFile(path, &error, *password, &needsPassword);
        }
        if (row < 0 && needsPassword) continue;  // the user cancelled the password prompt
        if (row < 0) {
            Q_EMIT openFailed(error);
            continue;
        }
        ++opened;
        if (firstRow < 0) firstRow = row;
        Q_EMIT fileOpened(model_.pageAt(row).path);
    }
    if (firstRow >= 0) showRow(firstRow);
    return opened;
}

void WorkspacePanel::showRow(int row) {
    if (row < 0 || row >= model_.rowCount()) return;
    pages_->setCurrentIndex(model_.index(row));
    pages_->scrollTo(model_.index(row));
    showCurrent();
}

void WorkspacePanel::showCurrent() {
    const auto page = model_.pageAt(pages_->currentIndex().row());
    const auto* document = model_.document(page.path);
    if (document == nullptr) {
        pageView_->clearPage();
        return;
    }
    pageView_->showPage(document, page.page);
}

void WorkspacePanel::closeCurrentDocument() {
    const auto page = model_.pageAt(pages_->currentIndex().row());
    if (page.path.isEmpty()) return;
    pageView_->clearPage();
    model_.closeDocument(page.path);
    if (model_.rowCount() > 0) showRow(0);
}

int WorkspacePanel::renderDpi() const { return dpi_->currentData().toInt(); }

void WorkspacePanel::setRenderDpi(int dpi) {
    const int index = dpi_->findData(dpi);
    if (index >= 0) dpi_->setCurrentIndex(index);
}

}  // namespace deepstack::ui

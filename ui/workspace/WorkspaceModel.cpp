#include "workspace/WorkspaceModel.h"

#include <QFileInfo>
#include <QPixmap>

#include "workspace/WorkspaceDocument.h"

namespace deepstack::ui {

WorkspaceModel::WorkspaceModel(QObject* parent) : QAbstractListModel(parent), thumbnails_(400) {}

WorkspaceModel::~WorkspaceModel() = default;

int WorkspaceModel::rowCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : static_cast<int>(rows_.size()); }

QVariant WorkspaceModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount()) return {};
    const auto& row = rows_[static_cast<std::size_t>(index.row())];
    const auto& document = *documents_[static_cast<std::size_t>(row.document)];
    switch (role) {
        case Qt::DisplayRole:
            return hasNumberedPages(document.path()) ? tr("%1 · p. %2").arg(document.fileName()).arg(row.page + 1) : document.fileName();
        case Qt::ToolTipRole: return tr("%1\nTick to show this page to the model with the next question").arg(document.path());
        case Qt::CheckStateRole: return row.attached ? Qt::Checked : Qt::Unchecked;
        case Qt::SizeHintRole: return kCellSize;
        case PathRole: return document.path();
        case PageRole: return row.page;
        case Qt::DecorationRole: {
            const auto key = document.path() + "#" + QString::number(row.page);
            if (auto* cached = thumbnails_.object(key)) return QPixmap::fromImage(*cached);
            auto* image = new QImage(document.thumbnail(row.page, kThumbnailSide));
            const auto pixmap = QPixmap::fromImage(*image);
            thumbnails_.insert(key, image);
            return pixmap;
        }
        default: return {};
    }
}

bool WorkspaceModel::setData(const QModelIndex& index, const QVariant& value, int role) {
    if (!index.isValid() || role != Qt::CheckStateRole) return false;
    auto& row = rows_[static_cast<std::size_t>(index.row())];
    row.attached = value.value<Qt::CheckState>() == Qt::Checked;
    Q_EMIT dataChanged(index, index, {Qt::CheckStateRole});
    Q_EMIT attachmentsChanged();
    return true;
}

Qt::ItemFlags WorkspaceModel::flags(const QModelIndex& index) const {
    if (!index.isValid()) return Qt::NoItemFlags;
    return QAbstractListModel::flags(index) | Qt::ItemIsUserCheckable;
}

int WorkspaceModel::openFile(const QString& path, QString* error, const QString& password, bool* needsPassword) {
    const auto absolute = QFileInfo(path).absoluteFilePath();
    if (const int existing = rowOf({absolute, 0}); existing >= 0) return existing;
    auto document = WorkspaceDocument::open(path, error, password, needsPassword);
    if (!document) return -1;
    const auto attached = attachedPages();
    beginResetModel();
    documents_.push_back(std::move(document));
    rebuildRows(attached);
    endResetModel();
    return rowOf({absolute, 0});
}

void WorkspaceModel::closeDocument(const QString& path) {
    const auto found = std::find_if(documents_.begin(), documents_.end(), [&](const auto& d) { return d->path() == path; });
    if (found == documents_.end()) return;
    const auto attached = attachedPages();
    beginResetModel();
    documents_.erase(found);
    rebuildRows(attached);
    endResetModel();
    Q_EMIT attachmentsChanged();
}

const WorkspaceDocument* WorkspaceModel::document(const QString& path) const {
    for (const auto& d : documents_)
        if (d->path() == path) return d.get();
    return nullptr;
}

void WorkspaceModel::rebuildRows(const QList<PageRef>& attached) {
    // Ticks survive opening or closing another document.
    rows_.clear();
    for (int d = 0; d < static_cast<int>(documents_.size()); ++d)
        for (int p = 0; p < documents_[static_cast<std::size_t>(d)]->pageCount(); ++p)
            rows_.push_back({d, p, attached.contains(PageRef{documents_[static_cast<std::size_t>(d)]->path(), p})});
}

PageRef WorkspaceModel::pageAt(int row) const {
    if (row < 0 || row >= rowCount()) return {};
    const auto& r = rows_[static_cast<std::size_t>(row)];
    return {documents_[static_cast<std::size_t>(r.document)]->path(), r.page};
}

int WorkspaceModel::rowOf(const PageRef& page) const {
    for (int i = 0; i < rowCount(); ++i)
        if (pageAt(i) == page) return i;
    return -1;
}

QList<PageRef> WorkspaceModel::attachedPages() const {
    QList<PageRef> pages;
    for (int i = 0; i < rowCount(); ++i)
        if (rows_[static_cast<std::size_t>(i)].attached) pages.append(pageAt(i));
    return pages;
}

void WorkspaceModel::setAttached(const PageRef& page, bool attached) {
    if (const int row = rowOf(page); row >= 0) setData(index(row), attached ? Qt::Checked : Qt::Unchecked, Qt::CheckStateRole);
}

void WorkspaceModel::clearAttachments() {
    for (auto& row : rows_) row.attached = false;
    if (!rows_.empty()) Q_EMIT dataChanged(index(0), index(rowCount() - 1), {Qt::CheckStateRole});
    Q_EMIT attachmentsChanged();
}

namespace {
QImage renderPage(const WorkspaceDocument& source, int page, double dpi, QString* error) {
    if (page >= source.pageCount()) {
        if (error) *error = WorkspaceModel::tr("%1 has no page %2 any more.").arg(source.fileName()).arg(page + 1);
        return {};
    }
    auto image = source.render(page, dpi);
    if (image.isNull() && error) *error = WorkspaceModel::tr("Page %1 of %2 could not be rendered.").arg(page + 1).arg(source.fileName());
    return image;
}
}  // namespace

QImage WorkspaceModel::renderForModel(const PageRef& page, double dpi, QString* error) const {
    if (const auto* source = document(page.path)) return renderPage(*source, page.page, dpi, error);
    bool needsPassword = false;
    const auto opened = WorkspaceDocument::open(page.path, error, {}, &needsPassword);
    if (needsPassword && error != nullptr)
        *error = tr("%1 is protected by a password: open it (File › Open…) and give its password, then ask again.")
                     .arg(QFileInfo(page.path).fileName());
    return opened ? renderPage(*opened, page.page, dpi, error) : QImage();
}

WorkspaceModel::PageSource WorkspaceModel::pageSource(const PageRef& page) const {
    PageSource source{page, {}, false, {}};
    if (const auto* open = document(page.path)) {
        source.open = true;
        source.password = open->password();
        // Only the first picture is kept decoded; a TIFF's other pages are read where they are rendered, off this
        // (the GUI) thread.
        if (!open->isPdf() && page.page == 0) source.picture = open->render(0, 72.0);
    }
    return source;
}

QImage WorkspaceModel::renderPageSource(const PageSource& source, double dpi, QString* error) {
    if (!source.picture.isNull()) return source.picture;
    const auto opened = WorkspaceDocument::open(source.page.path, error, source.password);
    return opened ? renderPage(*opened, source.page.page, dpi, error) : QImage();
}

}  // namespace deepstack::ui

// The pages of every open document as one list: what the thumbnail strip shows and where the user ticks the
// pages that go with the next question. Thumbnails render on first display (a long PDF opens at once).
#pragma once

#include <QAbstractListModel>
#include <QCache>
#include <QImage>
#include <QSize>

#include <memory>
#include <vector>

#include "chat/ChatTypes.h"

namespace deepstack::ui {

class WorkspaceDocument;

class WorkspaceModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Roles { PathRole = Qt::UserRole + 1, PageRole };
    static constexpr int kThumbnailSide = 128;
    // A page's cell in the strip: the thumbnail and one line of its name. Given as each row's size hint, so that a
    // long name is elided inside the cell rather than laid out wider than it (and then not drawn at all).
    static constexpr QSize kCellSize{kThumbnailSide + 36, kThumbnailSide + 40};

    explicit WorkspaceModel(QObject* parent = nullptr);
    ~WorkspaceModel() override;

    int rowCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    bool setData(const QModelIndex& index, const QVariant& value, int role) override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;

    // Opens a file (or returns the row of its first page when it is already open); -1 with `error` set, and
    // `needsPassword` when a PDF's password is missing or wrong (WorkspaceDocument::open).
    int openFile(const QString& path, QString* error, const QString& password = {}, bool* needsPassword = nullptr);
    void closeDocument(const QString& path);
    int documentCount() const { return static_cast<int>(documents_.size()); }
    const WorkspaceDocument* document(const QString& path) const;

    PageRef pageAt(int row) const;
    int rowOf(const PageRef& page) const;  // -1 when not open
    QList<PageRef> attachedPages() const;
    void setAttached(const PageRef& page, bool attached);
    void clearAttachments();

    // The page as the model sees it (onto white at `dpi`); opens the file when it is not in the workspace (a
    // restored conversation). Null with `error` set when it cannot be rendered.
    QImage renderForModel(const PageRef& page, double dpi, QString* error) const;

    // The same for pages rendered on another thread (a QPdfDocument belongs to the thread that made it): what the
    // GUI thread takes along (a picture's decoded pixels; a PDF's path, opened again where it is rendered), then
    // the rendering, which may run on any thread.
    struct PageSource {
        PageRef page;
        QImage picture;     // a picture open in the workspace
        bool open = false;  // the file is open in the workspace (renderForModel can still render it if it vanished)
        QString password;   // a protected PDF's, to open it again where it is rendered
    };
    PageSource pageSource(const PageRef& page) const;
    static QImage renderPageSource(const PageSource& source, double dpi, QString* error);

Q_SIGNALS:
    void attachmentsChanged();

private:
    struct Row {
        int document = 0;
        int page = 0;
        bool attached = false;
    };
    void rebuildRows(const QList<PageRef>& attached);

    std::vector<std::unique_ptr<WorkspaceDocument>> documents_;
    std::vector<Row> rows_;
    mutable QCache<QString, QImage> thumbnails_;
};

}  // namespace deepstack::ui

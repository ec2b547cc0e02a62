// The document side of the window: the page strip (tick the pages for the next question), the page itself
// with zoom and pan, and the resolution pages are shown to the model at.
#pragma once

#include <QWidget>

#include <functional>
#include <optional>

class QComboBox;
class QLabel;
class QListView;
class QStackedWidget;

namespace deepstack::ui {

class PageView;
class WorkspaceModel;

class WorkspacePanel : public QWidget {
    Q_OBJECT
public:
    WorkspacePanel(WorkspaceModel& model, QWidget* parent = nullptr);

    // Opens each file; those that cannot be opened are reported through openFailed, the others stay open. A PDF
    // protected by a password asks for it (again when it was wrong); cancelled, the file is left closed, unreported.
    // Returns how many opened.
    int openFiles(const QStringList& paths);
    // What asks for a PDF's password: the file's name and whether a password was already refused; nullopt: the
    // user cancelled. A dialog by default; the tests answer it themselves.
    using PasswordPrompt = std::function<std::optional<QString>(const QString& fileName, bool refusedBefore)>;
    void setPasswordPrompt(PasswordPrompt prompt) { passwordPrompt_ = std::move(prompt); }
    void closeCurrentDocument();
    int renderDpi() const;
    void setRenderDpi(int dpi);
    PageView* pageView() const { return pageView_; }
    QListView* pageList() const { return pages_; }
    void showRow(int row);

Q_SIGNALS:
    void fileOpened(const QString& path);
    void openFailed(const QString& message);
    void renderDpiChanged(int dpi);

private:
    void showCurrent();

    WorkspaceModel& model_;
    QStackedWidget* stack_ = nullptr;
    QListView* pages_ = nullptr;
    PageView* pageView_ = nullptr;
    QComboBox* dpi_ = nullptr;
    QLabel* zoomLabel_ = nullptr;
    PasswordPrompt passwordPrompt_;
};

}  // namespace deepstack::ui

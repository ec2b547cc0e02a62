// The application window: menus, a workspace, a status bar. Documents, chat and models attach here.
#pragma once

#include <QMainWindow>

class QLabel;

namespace deepstack::ui {

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    // Shows the inspect report of a model folder (the work runs on a pool thread).
    void inspectModelFolder(const QString& folder);

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    void createMenus();
    void chooseModelFolderToInspect();
    void showAbout();

    QLabel* modelStatus_ = nullptr;
};

}  // namespace deepstack::ui

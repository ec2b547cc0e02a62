// deepstack-studio: the desktop application.
#include <QApplication>

#include "MainWindow.h"

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setApplicationName("deepstack-studio");
    QApplication::setApplicationDisplayName("DeepStack Studio");
    QApplication::setOrganizationName("DeepStack Studio");
    QApplication::setApplicationVersion(DEEPSTACK_VERSION);
    QApplication::setDesktopFileName("deepstack-studio");

    deepstack::ui::MainWindow window;
    window.show();
    return QApplication::exec();
}

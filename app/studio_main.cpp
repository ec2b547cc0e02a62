// deepstack-studio: the desktop application.
//   deepstack-studio [--model FOLDER] [--ask "question"] [FILE...]
//   deepstack-studio --replay RECORDING.dsrec
#include <QApplication>
#include <QCommandLineParser>
#include <QMessageBox>
#include <QTimer>

#include "MainWindow.h"
#include "deepstack/system.h"
#include <QPlainTextEdit>

#include "chat/ChatPanel.h"

int main(int argc, char** argv) {
    deepstack::choose_blas_kernels(argv);  // may start the program again, before anything has run
    QApplication app(argc, argv);
    QApplication::setApplicationName("deepstack-studio");
    QApplication::setApplicationDisplayName("DeepStack Studio");
    QApplication::setOrganizationName("DeepStack Studio");
    QApplication::setApplicationVersion(DEEPSTACK_VERSION);
    QApplication::setDesktopFileName("deepstack-studio");

    QCommandLineParser parser;
    parser.setApplicationDescription("Ask questions about documents and photos with DeepStack vision-language models, offline.");
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption model("model", "Load the model in FOLDER at start.", "FOLDER");
    const QCommandLineOption ask("ask", "Put QUESTION in the question box.", "QUESTION");
    const QCommandLineOption replay("replay", "Play the recorded demo in FILE back (no model needed).", "FILE");
    parser.addOption(model);
    parser.addOption(ask);
    parser.addOption(replay);
    parser.addPositionalArgument("files", "PDFs or pictures to open; the first page opened is ticked for the first question.", "[FILE...]");
    parser.process(app);

    deepstack::ui::MainWindow window;
    window.show();
    // After the window is up, so that problems show as messages over it.
    QTimer::singleShot(0, &window, [&] {
        if (parser.isSet(replay)) {  // a recording plays without any model
            QString error;
            if (!window.openRecording(parser.value(replay), &error))
                QMessageBox::warning(&window, QObject::tr("Recording"), error);
            return;
        }
        if (!parser.positionalArguments().isEmpty()) window.openFiles(parser.positionalArguments(), true);
        if (parser.isSet(model)) window.loadModel(parser.value(model));
        else window.loadStartModel();  // the last model, else the demo model; else the window says what to do
        if (parser.isSet(ask)) window.chatPanel().input()->setPlainText(parser.value(ask));
    });
    return QApplication::exec();
}

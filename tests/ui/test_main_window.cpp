// The main window starts, shows its workspace, menus and status, inspects a folder off the GUI thread, and closes.
#include <fstream>

#include <nlohmann/json.hpp>

#include <QAction>
#include <QComboBox>
#include <QDir>
#include <QLineEdit>
#include <QMessageBox>
#include <QSettings>
#include <QStandardPaths>
#include <QJsonDocument>
#include <QFileInfo>
#include <QLabel>
#include <QMenuBar>
#include <QPlainTextEdit>
#include <QTemporaryDir>
#include <QtTest>
#include "test_main.h"
#include <QRegularExpression>
#include <QPainter>
#include <QPdfWriter>

#include <QListView>
#include <QProcess>
#include <QPushButton>
#include <QStatusBar>
#include <QToolButton>
#include <QSignalSpy>
#include <QSpinBox>

#include "MainWindow.h"
#include "inference/SpeedRecords.h"
#include "ModelReportDialog.h"
#include "models/ApiKeyStore.h"
#include "models/HubDownloadPanel.h"
#include "chat/ChatController.h"
#include "chat/ChatPanel.h"
#include "chat/ChatView.h"
#include "chat/ChatTypes.h"
#include "workspace/PageView.h"
#include "chat/ConversationStore.h"
#include "inference/InferenceService.h"
#include "models/ModelManagerDialog.h"
#include "test_files.h"
#include "tiny_folders.h"
#ifdef DEEPSTACK_LLAMA_SERVER
#include "llama_server.h"
#endif
#include "models/RemoteServerPanel.h"
#include "ui_test_files.h"
#include "workspace/WorkspaceModel.h"

namespace test_main_window {

using deepstack::ui::MainWindow;

namespace {
// A tiny Qwen3-VL the engine loads, with nothing from outside the repository: a byte-level BPE tokenizer of the 256
// byte symbols (GPT-2's byte-to-character map) and Qwen's special tokens after them, no merges.
void writeLoadableQwenFolder(const std::filesystem::path& folder) {
    auto config = deepstack::testing::tiny_qwen3_vl_config();
    const std::vector<std::string> specials{"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
                                            "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"};
    const auto id = [&](const std::string& token) { return 256 + static_cast<int>(std::find(specials.begin(), specials.end(), token) - specials.begin()); };
    config["text_config"]["vocab_size"] = 256 + static_cast<int>(specials.size()) + 1;
    config["text_config"]["bos_token_id"] = id("<|endoftext|>");
    config["text_config"]["eos_token_id"] = id("<|im_end|>");
    config["image_token_id"] = id("<|image_pad|>");
    config["video_token_id"] = id("<|video_pad|>");
    config["vision_start_token_id"] = id("<|vision_start|>");
    config["vision_end_token_id"] = id("<|vision_end|>");
    deepstack::testing::write_tiny_folder(folder, config, {.tokenizer = false});

    nlohmann::json vocab = nlohmann::json::object();
    int extra = 0;
    for (int byte = 0; byte < 256; ++byte) {
        const bool printable = (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || (byte >= 0xAE);
        const char32_t symbol = printable ? static_cast<char32_t>(byte) : static_cast<char32_t>(256 + extra++);
        std::string utf8;
        if (symbol < 0x80) utf8 += static_cast<char>(symbol);
        else {
            utf8 += static_cast<char>(0xC0 | (symbol >> 6));
            utf8 += static_cast<char>(0x80 | (symbol & 0x3F));
        }
        vocab[utf8] = byte;
    }
    nlohmann::json added = nlohmann::json::array();
    for (const auto& token : specials) added.push_back({{"id", id(token)}, {"content", token}, {"special", true}});
    std::ofstream(folder / "tokenizer.json") << nlohmann::json{
        {"version", "1.0"}, {"added_tokens", added},
        {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
        {"decoder", {{"type", "ByteLevel"}}},
        {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}}}.dump();
    std::ofstream(folder / "tokenizer_config.json") << nlohmann::json{{"eos_token", "<|im_end|>"}}.dump();
}
}  // namespace

class TestMainWindow : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { deepstack::testing::startWithNoSavedState("test_main_window"); }

    void keyboardShortcuts() {
        MainWindow window;
        const auto shortcut = [&](const char* name) { return window.findChild<QAction*>(name)->shortcut(); };
        QCOMPARE(shortcut("actionOpen"), QKeySequence(QKeySequence::Open));
        QCOMPARE(shortcut("actionSend"), QKeySequence(Qt::CTRL | Qt::Key_Return));
        QCOMPARE(shortcut("actionStop"), QKeySequence(Qt::Key_Escape));
        QCOMPARE(shortcut("actionFind"), QKeySequence(QKeySequence::Find));
        QCOMPARE(shortcut("actionMeasureStacks"), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_K));
    }

    // The issue's walk-through: open a PDF, load a model, ask two questions about page 2, stop an answer,
    // close the app, and find the conversation again.
    void openAskStopCloseAndFindItAgain() {
        QTemporaryDir dir;
        const auto pdf = dir.filePath("report.pdf");
        deepstack::testing::writePdf(pdf, 3);
        QStringList texts;
        {
            MainWindow window;
            window.show();
            QVERIFY(QTest::qWaitForWindowExposed(&window));
            window.openFiles({pdf});
            auto* pages = window.findChild<QListView*>("pageList");
            QCOMPARE(pages->model()->rowCount(), 3);

            window.loadModel(deepstack::testing::deepStackModelFolder());
            auto* status = window.findChild<QLabel*>("modelStatus");
            QTRY_VERIFY_WITH_TIMEOUT(status->text().contains("DeepStack-L"), 120000);

            auto& chat = window.chat();
            const auto ask = [&](const QString& question, int maxTokens) {
                auto sampling = chat.current().sampling;
                sampling.maxTokens = maxTokens;
                chat.setSampling(sampling);
                auto* input = window.findChild<QPlainTextEdit*>("questionInput");
                input->setFocus();
                QTest::keyClicks(input, question);
                QTest::keyClick(input, Qt::Key_Return, Qt::ControlModifier);
            };
            const auto withNextQuestion = [&] { return window.chatPanel().attachmentsText(); };
            QVERIFY2(withNextQuestion().contains("goes without a picture"), qPrintable(withNextQuestion()));
            pages->model()->setData(pages->model()->index(1, 0), Qt::Checked, Qt::CheckStateRole);  // page 2
            ask("What is the title of this page?", 8);
            QVERIFY(chat.isBusy());
            QTRY_VERIFY_WITH_TIMEOUT(!chat.isBusy(), 120000);
            // The page went with the question and was unticked; the follow-up still sees it, and the chat says so.
            QVERIFY2(withNextQuestion().contains("still sees the page asked about earlier"), qPrintable(withNextQuestion()));
            ask("Which colour is the box?", 8);
            QTRY_VERIFY_WITH_TIMEOUT(!chat.isBusy(), 120000);
            QCOMPARE(chat.current().messages.size(), 4);
            QCOMPARE(chat.current().messages[0].attachments.size(), 1);
            QCOMPARE(chat.current().messages[0].attachments.front().page, 1);

            auto sampling = chat.current().sampling;
            sampling.temperature = 1.0;
            sampling.maxTokens = 900;
            chat.setSampling(sampling);
            pages->model()->setData(pages->model()->index(1, 0), Qt::Checked, Qt::CheckStateRole);  // page 2 again
            ask("Tell me a long story.", 900);
            QTRY_VERIFY_WITH_TIMEOUT(!chat.current().messages.back().text.isEmpty(), 120000);
            window.findChild<QAction*>("actionStop")->trigger();
            QTRY_VERIFY_WITH_TIMEOUT(!chat.isBusy(), 120000);
            QCOMPARE(chat.current().messages.back().stopReason, QString("cancelled"));
            // One page, in the context twice.
            QVERIFY2(withNextQuestion().contains("still sees the page asked about earlier in this conversation (as 2 pictures: a page ticked "
                                                       "again went in again)."),
                     qPrintable(withNextQuestion()));

            // Find in chat.
            window.findChild<QAction*>("actionFind")->trigger();
            auto* find = window.findChild<QLineEdit*>("findText");
            QVERIFY(find->isVisible());
            QVERIFY(window.chatPanel().view()->findText("colour", false));
            for (const auto& m : chat.current().messages) texts << m.text;
            QVERIFY(window.close());
        }
        MainWindow again;
        again.show();
        const auto& restored = again.chat().current();
        QCOMPARE(restored.messages.size(), 6);
        QStringList restoredTexts;
        for (const auto& m : restored.messages) restoredTexts << m.text;
        QCOMPARE(restoredTexts, texts);
        QVERIFY(again.chatPanel().view()->toPlainText().contains("Which colour is the box?"));
    }

    // deepstack-studio FILE --model DIR: the first page is ticked, and the chat offers the questions the model
    // folder lists (sample_questions.json); a click puts one in the question box.
    void startsReadyForAQuestionWithTheModelsSampleQuestions() {
        QTemporaryDir dir;
        const QDir model(dir.filePath("model"));
        QVERIFY(model.mkpath("."));
        for (const auto& file : QDir(deepstack::testing::deepStackModelFolder()).entryInfoList(QDir::Files))
            QVERIFY(QFile::copy(file.filePath(), model.filePath(file.fileName())));
        deepstack::testing::writeBytes(model.filePath("sample_questions.json"),
                                       R"({"questions": ["What is the invoice number?", "What is the total?"]})");
        const auto pdf = dir.filePath("report.pdf");
        deepstack::testing::writePdf(pdf, 3);

        MainWindow window;
        window.show();
        window.openFiles({pdf}, true);
        auto attached = window.workspaceModel().attachedPages();
        QCOMPARE(attached.size(), 1);
        QCOMPARE(attached.front().page, 0);
        window.openFiles({pdf}, true);  // a page is ticked already: nothing more
        QCOMPARE(window.workspaceModel().attachedPages().size(), 1);

        auto* suggestions = window.findChild<QWidget*>("suggestions");
        QVERIFY(!suggestions->isVisible());
        window.loadModel(model.path());
        QTRY_VERIFY_WITH_TIMEOUT(window.inference().model().has_value(), 120000);
        QTRY_VERIFY_WITH_TIMEOUT(!window.inference().isBusy(), 120000);  // the first load measures the model's speed
        QTRY_VERIFY(suggestions->isVisible());
        const auto buttons = suggestions->findChildren<QToolButton*>();
        QCOMPARE(buttons.size(), 2);
        QCOMPARE(buttons[1]->text(), QString("What is the total?"));
        buttons[1]->click();
        QCOMPARE(window.findChild<QPlainTextEdit*>("questionInput")->toPlainText(), QString("What is the total?"));

        // A model folder without the file offers nothing.
        window.loadModel(deepstack::testing::deepStackModelFolder());
        QTRY_VERIFY_WITH_TIMEOUT(!suggestions->isVisible(), 120000);

        // A broken file offers nothing either, and says why.
        deepstack::testing::writeBytes(model.filePath("sample_questions.json"), QByteArray("{\"questions\": [\"What is"));
        window.loadModel(model.path());
        QTRY_VERIFY_WITH_TIMEOUT(window.statusBar()->currentMessage().contains("not valid JSON"), 120000);
        QVERIFY(window.statusBar()->currentMessage().contains("sample_questions.json"));
        QVERIFY(!suggestions->isVisible());
    }

    // An answer that names boxes and points (Qwen3-VL's JSON): links under the answer, the boxes drawn on the
    // question's page in their colours, one highlighted by its link, gone on another page, and the page exported
    // with them.
    void groundedAnswerShowsItsBoxes() {
        QTemporaryDir dir;
        const auto pdf = dir.filePath("invoice.pdf");
        deepstack::testing::writePdf(pdf, 2);
        {
            auto conversation = deepstack::ui::ChatConversation::create({}, {});
            deepstack::ui::ChatMessage question;
            question.text = "Locate the title and the total, and output bbox coordinates in JSON.";
            question.attachments = {{QFileInfo(pdf).absoluteFilePath(), 1}};
            question.renderDpi = 144;
            deepstack::ui::ChatMessage answer;
            answer.role = deepstack::ui::ChatMessage::Role::assistant;
            answer.text = "```json\n[\n\t{\"bbox_2d\": [100, 100, 500, 300], \"label\": \"title\"},\n\t{\"point_2d\": [800, 900], "
                          "\"label\": \"total\"}\n]\n```";
            conversation.messages = {question, answer};
            conversation.title = "boxes";
            QString error;
            QVERIFY2(deepstack::ui::ConversationStore().save(conversation, &error), qPrintable(error));
        }
        MainWindow window;
        window.resize(1280, 820);
        window.show();
        window.openFiles({pdf});
        auto* pages = window.findChild<QListView*>("pageList");
        pages->setCurrentIndex(pages->model()->index(0, 0));
        QCOMPARE(window.chat().current().title, QString("boxes"));
        QVERIFY(window.chatPanel().view()->toPlainText().contains("On the page: title · total"));

        Q_EMIT window.chatPanel().view()->anchorClicked(QUrl("chat:box/1/1"));
        auto* view = window.findChild<deepstack::ui::PageView*>("pageView");
        QCOMPARE(pages->currentIndex().row(), 1);  // the question's page, page 2
        QCOMPARE(view->marks().size(), 2);
        QVERIFY(view->marksShown());
        QCOMPARE(view->highlightedMark(), 1);
        QCOMPARE(view->marks()[0].region, QRectF(QPointF(0.1, 0.1), QPointF(0.5, 0.3)));
        QVERIFY(view->marks()[1].point());
        if (const auto shots = qEnvironmentVariable("DEEPSTACK_SCREENSHOT_DIR"); !shots.isEmpty()) window.grab().save(shots + "/grounding.png");

        QString error;
        const auto file = dir.filePath("boxes.png");
        QVERIFY2(window.exportPageWithBoxes(file, &error), qPrintable(error));
        const QImage exported(file);
        QVERIFY(!exported.isNull());
        // The title's box: its top edge in the first mark's colour, at 10 % of the page's height.
        const auto colour = deepstack::ui::PageView::markColour(0);
        const QColor edge = exported.pixelColor(static_cast<int>(0.45 * exported.width()), static_cast<int>(0.1 * exported.height()));  // white paper there
        QVERIFY2(std::abs(edge.red() - colour.red()) < 60 && std::abs(edge.green() - colour.green()) < 60 && std::abs(edge.blue() - colour.blue()) < 60,
                 qPrintable(edge.name()));
        const QColor inside = exported.pixelColor(static_cast<int>(0.9 * exported.width()), static_cast<int>(0.5 * exported.height()));
        QVERIFY2(inside.red() > 200 && inside.green() > 200, qPrintable(inside.name()));  // the page, untouched there

        pages->setCurrentIndex(pages->model()->index(0, 0));  // another page: its boxes are not drawn there
        QVERIFY(!view->marksShown());
        pages->setCurrentIndex(pages->model()->index(1, 0));
        QVERIFY(view->marksShown());
        QVERIFY(!window.exportPageWithBoxes(QDir(dir.path()).filePath("no/such/folder/x.png"), &error));
        QVERIFY(error.contains("could not be written"));
    }

    // A 40-page PDF (QPdfWriter; one page a picture only): Pick Pages ticks the page that holds the question's words
    // first, at most four, says which matched and which pages have no text, and swaps a left-out one in on a click;
    // the tokens shown before sending are the ones the engine then uses; the question's page link opens that page.
    void pickPagesOfALongDocument() {
        QTemporaryDir dir;
        const auto pdf = dir.filePath("report.pdf");
        {
            QPdfWriter writer(pdf);
            writer.setResolution(72);
            QPainter painter(&writer);
            QImage scan(200, 200, QImage::Format_RGB32);
            scan.fill(Qt::darkGray);
            for (int p = 0; p < 40; ++p) {
                if (p > 0) writer.newPage();
                if (p == 33) {  // a scanned page: a picture, no text layer
                    painter.drawImage(QRect(50, 50, 300, 300), scan);
                    continue;
                }
                painter.drawText(QPointF(60, 80), QString("Quarterly report, section %1: revenue and costs.").arg(p + 1));
                if (p % 5 == 4) painter.drawText(QPointF(60, 120), "An invoice is attached.");
                if (p == 26) painter.drawText(QPointF(60, 160), "The invoice total is 4711 euros.");
            }
        }
        QSettings().remove("speed");  // no rates from earlier tests: the first load measures them
        MainWindow window;
        window.resize(1280, 820);
        window.show();
        window.openFiles({pdf});
        window.loadModel(deepstack::testing::deepStackModelFolder());
        QTRY_VERIFY_WITH_TIMEOUT(window.inference().model().has_value(), 120000);
        QTRY_VERIFY_WITH_TIMEOUT(!window.inference().isBusy(), 120000);  // the first load measures the model's speed
        // The first load of a model on a device measures its speed with one short question of its own.
        QTRY_VERIFY_WITH_TIMEOUT(MainWindow::speedRates(*window.inference().model()).has_value(), 120000);
        QTRY_VERIFY_WITH_TIMEOUT(!window.inference().isBusy(), 120000);
        const auto calibrated = *MainWindow::speedRates(*window.inference().model());
        QVERIFY(calibrated.visionMsPerImageToken > 0 && calibrated.prefillMsPerToken > 0 && calibrated.decodeTokensPerSecond > 0);
        auto& chat = window.chat();
        chat.newConversation();  // not the one an earlier test left
        auto sampling = chat.current().sampling;
        sampling.maxTokens = 4;
        chat.setSampling(sampling);
        auto* input = window.findChild<QPlainTextEdit*>("questionInput");
        input->setPlainText("What is the invoice total?");
        window.findChild<QPushButton*>("pickPages")->click();

        const auto attached = window.workspaceModel().attachedPages();
        QCOMPARE(attached.size(), 4);
        QVERIFY(attached.contains(deepstack::ui::PageRef{QFileInfo(pdf).absoluteFilePath(), 26}));
        const auto choice = window.chatPanel().pageChoiceText();
        QVERIFY2(choice.contains("<b>p. 27</b> (is, the, invoice, total)"), qPrintable(choice));
        QVERIFY2(choice.contains("Without a text layer (scans), so ranked last: p. 34."), qPrintable(choice));
        // Nine pages mention an invoice: four went, the others are offered, each a link that ticks it.
        const QRegularExpression link("href='page:(\\d+)'");
        const auto offered = link.match(choice);
        QVERIFY2(offered.hasMatch(), qPrintable(choice));
        Q_EMIT window.chatPanel().findChild<QLabel*>("pageChoice")->linkActivated("page:" + offered.captured(1));
        QVERIFY(window.workspaceModel().attachedPages().contains(deepstack::ui::PageRef{QFileInfo(pdf).absoluteFilePath(), offered.captured(1).toInt()}));

        // The cost shown before sending is what the engine uses.
        qint64 expected = 0;
        for (const auto& page : window.workspaceModel().attachedPages()) expected += window.pageTokens(page);
        QVERIFY(expected > 0);
        QVERIFY2(window.chatPanel().attachmentsText().contains(QString("%1 image tokens").arg(expected)), qPrintable(window.chatPanel().attachmentsText()));
        QTest::keyClick(input, Qt::Key_Return, Qt::ControlModifier);
        QTRY_VERIFY_WITH_TIMEOUT(!chat.isBusy(), 120000);
        QCOMPARE(chat.current().messages.back().timings.imageTokens, expected);
        // The estimate reads the rates in the units they were measured in: rates learned from this one answer alone
        // give back its own time to the first word. (How close the calibration's estimate comes to a later question's
        // time depends on what else the machine runs; that is for `deepstack-cli bench`, not a check.)
        const auto& t = chat.current().messages.back().timings;
        QVERIFY(t.visionMs > 0 && t.prefillMs > 0);
        const QString unitsFolder = QDir(dir.path()).filePath("units-check");
        deepstack::ui::rememberSpeed(unitsFolder, "cpu", "fp32", t);
        const auto learned = deepstack::ui::keptSpeed(unitsFolder, "cpu", "fp32");
        QVERIFY(learned.has_value());
        const auto took = t.visionMs + t.prefillMs;
        const auto estimated = 1000.0 * learned->secondsToFirstWord(t.imageTokens, t.promptTokens - t.imageTokens);
        QVERIFY2(std::abs(estimated - took) < 1e-6 * took, qPrintable(QString("estimated %1 ms, took %2 ms").arg(estimated).arg(took)));
        qInfo("time to the first word: %.0f ms; the calibration estimated %.0f ms", took,
              1000.0 * calibrated.secondsToFirstWord(t.imageTokens, t.promptTokens - t.imageTokens));
        // The rates move half way to each answer's, kept across sessions, and the next question's line estimates
        // the time from them, in a new conversation too.
        const auto rates = MainWindow::speedRates(*window.inference().model());
        QVERIFY(rates.has_value());
        QCOMPARE(rates->visionMsPerImageToken, (calibrated.visionMsPerImageToken + t.visionMs / static_cast<double>(t.imageTokens)) / 2);
        QCOMPARE(rates->prefillMsPerToken, (calibrated.prefillMsPerToken + t.prefillMs / static_cast<double>(t.promptTokens)) / 2);
        chat.newConversation();
        window.workspaceModel().setAttached({QFileInfo(pdf).absoluteFilePath(), 26}, true);
        const auto one = window.pageTokens({QFileInfo(pdf).absoluteFilePath(), 26});
        const auto seconds = rates->secondsToFirstWord(one, 64);
        QVERIFY2(window.chatPanel().attachmentsText().contains(QString("≈ %1 to the first word").arg(deepstack::ui::describeDuration(seconds))),
                 qPrintable(window.chatPanel().attachmentsText()));
        input->setPlainText("What is the invoice total?");
        window.findChild<QPushButton*>("pickPages")->click();
        QTest::qWait(100);  // the labels laid out again
        if (const auto shots = qEnvironmentVariable("DEEPSTACK_SCREENSHOT_DIR"); !shots.isEmpty()) window.grab().save(shots + "/pick-pages.png");

        // The question's page references open their page.
        chat.selectConversation(1);  // the one asked in
        auto* pages = window.findChild<QListView*>("pageList");
        pages->setCurrentIndex(pages->model()->index(0, 0));
        Q_EMIT window.chatPanel().view()->anchorClicked(QUrl("chat:page/0/0"));
        QCOMPARE(pages->currentIndex().row(), window.workspaceModel().rowOf(chat.current().messages[0].attachments[0]));
    }

    // Questions prepared for a document are offered while one of its pages is on screen (and only then), kept per
    // file; presenter mode makes the type half again as large and hides the page strip, and gives both back.
    void presenterModeAndPreparedQuestions() {
        QTemporaryDir dir;
        const auto report = dir.filePath("report.pdf");
        const auto other = dir.filePath("other.pdf");
        deepstack::testing::writePdf(report, 2);
        deepstack::testing::writePdf(other, 1);
        MainWindow::setPreparedQuestions(report, {"What is the total?", "  ", "Who signed it?"});
        QCOMPARE(MainWindow::preparedQuestions(report), (QStringList{"What is the total?", "Who signed it?"}));
        MainWindow window;
        window.resize(1280, 820);
        window.show();
        window.openFiles({report, other});
        auto* pages = window.findChild<QListView*>("pageList");
        auto* suggestions = window.findChild<QWidget*>("suggestions");
        pages->setCurrentIndex(pages->model()->index(1, 0));  // report.pdf p. 2
        QTRY_VERIFY(suggestions->isVisible());
        const auto buttons = suggestions->findChildren<QToolButton*>();
        QCOMPARE(buttons.size(), 2);
        QCOMPARE(buttons[1]->text(), QString("Who signed it?"));
        // Many suggestions wrap onto more rows; they never make the window wider.
        QStringList many;
        for (int i = 0; i < 12; ++i) many << QString("What is printed in field number %1 of this page?").arg(i + 1);
        MainWindow::setPreparedQuestions(report, many);
        pages->setCurrentIndex(pages->model()->index(0, 0));
        QTRY_COMPARE(suggestions->findChildren<QToolButton*>().size(), 12);
        QVERIFY2(window.minimumSizeHint().width() < 1280, qPrintable(QString::number(window.minimumSizeHint().width())));
        QTRY_VERIFY(suggestions->findChildren<QToolButton*>().back()->geometry().top() > suggestions->findChildren<QToolButton*>().front()->geometry().top());
        MainWindow::setPreparedQuestions(report, {"What is the total?", "Who signed it?"});
        pages->setCurrentIndex(pages->model()->index(2, 0));  // other.pdf: nothing prepared
        QTRY_VERIFY(!suggestions->isVisible());
        MainWindow::setPreparedQuestions(report, {});
        QVERIFY(MainWindow::preparedQuestions(report).isEmpty());

        const auto size = window.font().pointSizeF();
        window.findChild<QAction*>("actionPresenter")->trigger();
        QVERIFY(window.isPresenterMode());
        QCOMPARE(window.font().pointSizeF(), size * 1.5);
        QVERIFY(!pages->isVisible());
        QCOMPARE(window.findChild<QAction*>("actionPresenter")->shortcut(), QKeySequence(Qt::Key_F5));
        window.setPresenterMode(false);
        QCOMPARE(window.font().pointSizeF(), size);
        QVERIFY(pages->isVisible());
        QVERIFY(!window.findChild<QAction*>("actionPresenter")->isChecked());
    }

    void modelManagerRefusesUnusableFolders() {
        QTemporaryDir dir;
        MainWindow window;
        auto* manager = window.modelManager();
        QSignalSpy checked(manager, &deepstack::ui::ModelManagerDialog::folderChecked);
        manager->addModelFolder(dir.path());  // empty folder
        QTRY_COMPARE(checked.count(), 1);
        QCOMPARE(checked.first().at(1).toBool(), false);
        QVERIFY2(checked.first().at(2).toString().contains("config.json"), qPrintable(checked.first().at(2).toString()));
        QVERIFY(!deepstack::ui::ModelManagerDialog::knownModelFolders().contains(dir.path()));

        manager->addModelFolder(deepstack::testing::deepStackModelFolder());
        QTRY_COMPARE(checked.count(), 2);
        QCOMPARE(checked.last().at(1).toBool(), true);
        QVERIFY(deepstack::ui::ModelManagerDialog::knownModelFolders().contains(deepstack::testing::deepStackModelFolder()));
    }

    // A llama.cpp GGUF file (its mmproj beside it) is added like a folder, and loads.
    void modelManagerTakesAGgufFile() {
        QTemporaryDir dir, cache;
        qputenv("XDG_CACHE_HOME", cache.path().toUtf8());
        const auto fixture = deepstack::testing::data_dir() / "fixtures" / "tiny-qwen3-vl-gguf";
        const std::filesystem::path root = dir.path().toStdString();
        std::filesystem::copy_file(fixture / "model-Q8_0.gguf", root / "tiny-Q8_0.gguf");
        std::filesystem::copy_file(fixture / "mmproj-F32.gguf", root / "mmproj-tiny-F32.gguf");
        const auto file = QString::fromStdString((root / "tiny-Q8_0.gguf").string());
        MainWindow window;
        auto* manager = window.modelManager();
        QVERIFY(manager->findChild<QPushButton*>("addGgufFile") != nullptr);
        QSignalSpy checked(manager, &deepstack::ui::ModelManagerDialog::folderChecked);
        manager->addModelFolder(file);
        QTRY_COMPARE(checked.count(), 1);
        QVERIFY2(checked.first().at(1).toBool(), qPrintable(checked.first().at(2).toString()));
        QVERIFY(deepstack::ui::ModelManagerDialog::knownModelFolders().contains(file));
        auto* report = manager->findChild<QPlainTextEdit*>("modelReport");
        QTRY_VERIFY2(report->toPlainText().contains("Q8_0"), qPrintable(report->toPlainText()));
        QTRY_VERIFY_WITH_TIMEOUT(!window.inference().isLoading(), 120000);
        window.loadModel(file);
        auto* status = manager->findChild<QLabel*>("modelManagerStatus");
        QTRY_VERIFY2_WITH_TIMEOUT(status->text().startsWith("Loaded tiny-Q8_0.gguf (Qwen3-VL"), qPrintable(status->text()), 30000);

        // Without its mmproj the file is refused, and the message says what is missing.
        std::filesystem::remove(root / "mmproj-tiny-F32.gguf");
        std::filesystem::copy_file(fixture / "model-BF16.gguf", root / "alone-BF16.gguf");
        manager->addModelFolder(QString::fromStdString((root / "alone-BF16.gguf").string()));
        QTRY_COMPARE(checked.count(), 2);
        QCOMPARE(checked.last().at(1).toBool(), false);
        QVERIFY2(checked.last().at(2).toString().contains("mmproj"), qPrintable(checked.last().at(2).toString()));
        qunsetenv("XDG_CACHE_HOME");
    }

    // The Hub panel: a repository of GGUF files from a stand-in Hub on 127.0.0.1 is downloaded, verified and its
    // text model files added to the list; a trickling download is cancelled and says so.
    void modelManagerDownloadsFromTheHub() {
        QTemporaryDir cache;
        QProcess server;
        const auto script = deepstack::testing::data_dir().parent_path() / "support" / "fake_hub.py";
        const auto served = deepstack::testing::data_dir() / "fixtures" / "tiny-qwen3-vl-gguf";
        server.start("python3", {QString::fromStdString(script.string()), "--repo", QString::fromStdString("org/tiny-gguf=" + served.string())});
        QVERIFY(server.waitForStarted(10000));
        while (!server.canReadLine()) QVERIFY(server.waitForReadyRead(20000));
        const auto port = QString(server.readLine()).trimmed().mid(5);
        qputenv("HF_ENDPOINT", ("http://127.0.0.1:" + port).toUtf8());
        qputenv("HF_HUB_CACHE", cache.path().toUtf8());
        qputenv("XDG_CACHE_HOME", cache.path().toUtf8());
        qunsetenv("HF_HUB_OFFLINE");

        MainWindow window;
        auto* manager = window.modelManager();
        auto* repository = manager->findChild<QLineEdit*>("hubRepository");
        QVERIFY(repository != nullptr);
        QVERIFY2(manager->findChild<QLabel*>("hubFit")->text().contains("to download"), qPrintable(manager->findChild<QLabel*>("hubFit")->text()));
        QSignalSpy checked(manager, &deepstack::ui::ModelManagerDialog::folderChecked);
        repository->setText("org/tiny-gguf");
        manager->findChild<QPushButton*>("hubStart")->click();
        QTRY_COMPARE_WITH_TIMEOUT(checked.count(), 3, 60000);  // BF16, Q4_K_M, Q8_0; the mmproj is not a model
        for (const auto& call : checked) QVERIFY2(call.at(1).toBool(), qPrintable(call.at(2).toString()));
        QVERIFY2(manager->findChild<QLabel*>("hubStatus")->text().startsWith("Downloaded and verified"),
                 qPrintable(manager->findChild<QLabel*>("hubStatus")->text()));

        // Cancel: the server trickles; the panel says it stopped and keeps what arrived.
        QProcess post;
        post.start("python3", {"-c", "import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=b'{\"slow\": true}', method='POST')).read()",
                               "http://127.0.0.1:" + port + "/_control"});
        QVERIFY(post.waitForFinished(10000));
        QDir(cache.path()).removeRecursively();
        manager->findChild<QPushButton*>("hubStart")->click();
        QTest::qWait(1500);
        auto* cancel = manager->findChild<QPushButton*>("hubCancel");
        QVERIFY(cancel->isEnabled());
        cancel->click();
        // How soon a cancel returns is test_hub's (run alone); here, only that the panel says it, however busy the machine.
        QTRY_VERIFY_WITH_TIMEOUT(manager->findChild<QLabel*>("hubStatus")->text().startsWith("Download cancelled"), 30000);
        QVERIFY(manager->findChild<QPushButton*>("hubStart")->isEnabled());
        server.kill();
        server.waitForFinished(5000);
        qunsetenv("HF_ENDPOINT");
        qunsetenv("XDG_CACHE_HOME");
        qputenv("HF_HUB_OFFLINE", "1");
    }

    // The first start: no model, so the chat column says how to get one; the demo model is one click away; the
    // model loaded last comes back at the next start.
    void firstStartLeadsToAModel() {
        QSettings().remove("models/lastLoaded");
        {
            MainWindow window;
            window.show();
            QVERIFY(QTest::qWaitForWindowExposed(&window));
            auto* hint = window.findChild<QWidget*>("modelHint");
            QVERIFY(hint != nullptr && hint->isVisible());
            auto* demo = window.findChild<QPushButton*>("useDemoModel");
            QVERIFY(!MainWindow::bundledDemoModel().isEmpty());  // models/demo/latest in this source tree
            QVERIFY(demo->isVisible());
            demo->click();
            QTRY_VERIFY_WITH_TIMEOUT(window.inference().model().has_value(), 60000);
            QVERIFY(!hint->isVisible());
            QCOMPARE(QSettings().value("models/lastLoaded").toString(), MainWindow::bundledDemoModel());
            window.findChild<QPushButton*>("chooseModel")->click();
            QVERIFY(window.modelManager()->isVisible());
            window.modelManager()->close();
            // Beside it, the download that suits this machine, chosen and waiting in the model manager.
            const auto recommended = deepstack::ui::HubDownloadPanel::recommendedRepository();
            QVERIFY2(recommended.startsWith("Qwen/Qwen3-VL-") && recommended.endsWith("-Instruct"), qPrintable(recommended));
            auto* download = window.findChild<QPushButton*>("downloadRecommended");
            QVERIFY2(download->text().contains(recommended.section('/', 1)), qPrintable(download->text()));
            download->click();
            QVERIFY(window.modelManager()->isVisible());
            QCOMPARE(window.modelManager()->findChild<QLineEdit*>("hubRepository")->text(), recommended);
            QVERIFY(window.modelManager()->findChild<QLabel*>("hubFit")->text().contains("a run needs about"));
            window.modelManager()->close();
        }
        MainWindow again;
        QSignalSpy started(&again.inference(), &deepstack::ui::InferenceService::loadStarted);
        QVERIFY(again.loadStartModel());
        QCOMPARE(started.count(), 1);
        QCOMPARE(started.first().at(0).toString(), MainWindow::bundledDemoModel());
        QTRY_VERIFY_WITH_TIMEOUT(!again.inference().isLoading(), 60000);
        QSettings().remove("models/lastLoaded");
    }

#ifdef DEEPSTACK_LLAMA_SERVER
    // The app's chat through a real llama-server: list its models, connect, ask with a picture, get the answer; the
    // key is kept in a file only the user may read, and never in the saved conversation.
    void chatThroughAServingEngine() {
        deepstack::testing::LlamaServer server({"--api-key", "sekrit"});
        QVERIFY(server.ready());
        MainWindow window;
        auto* manager = window.modelManager();
        manager->findChild<QLineEdit*>("serverAddress")->setText(QString::fromStdString(server.api()));
        manager->findChild<QLineEdit*>("serverKey")->setText("wrong");
        QSignalSpy listed(manager->findChild<deepstack::ui::RemoteServerPanel*>("remoteServer"), &deepstack::ui::RemoteServerPanel::modelsListed);
        manager->findChild<QPushButton*>("listServerModels")->click();
        QTRY_COMPARE_WITH_TIMEOUT(listed.count(), 1, 20000);
        QVERIFY2(listed.last().at(1).toString().contains("401"), qPrintable(listed.last().at(1).toString()));
        manager->findChild<QLineEdit*>("serverKey")->setText("sekrit");
        manager->findChild<QPushButton*>("listServerModels")->click();
        QTRY_COMPARE_WITH_TIMEOUT(listed.count(), 2, 20000);
        QCOMPARE(listed.last().at(0).toStringList(), QStringList{"tiny-qwen3-vl"});
        const auto* serverStatus = manager->findChild<QLabel*>("serverStatus");
        QVERIFY2(serverStatus->text() == "1 model served there.", qPrintable(serverStatus->text()));
        QTRY_VERIFY_WITH_TIMEOUT(!window.inference().isLoading(), 60000);
        manager->findChild<QPushButton*>("connectServer")->click();
        QTRY_VERIFY_WITH_TIMEOUT(window.inference().model().has_value() && window.inference().model()->family == "remote", 30000);
        // The suites run without a session bus (so no keyring): the key is in the file only the user may read.
        QCOMPARE(deepstack::ui::ApiKeyStore::lookup(QString::fromStdString(server.api())), QString("sekrit"));
        QVERIFY(QFileInfo(deepstack::ui::ApiKeyStore::keyFile()).permissions() ==
                (QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ReadUser | QFileDevice::WriteUser));

        window.chat().newConversation();  // not one an earlier test left with its own token limit
        auto sampling = window.chat().current().sampling;
        sampling.maxTokens = 32;
        window.chat().setSampling(sampling);
        window.chatPanel().input()->setPlainText("What is the total?");
        QSignalSpy busy(&window.chat(), &deepstack::ui::ChatController::busyChanged);
        window.chatPanel().sendQuestion();
        QTRY_VERIFY_WITH_TIMEOUT(busy.count() >= 2 && !busy.last().at(0).toBool(), 60000);  // busy, then idle again
        const auto& messages = window.chat().current().messages;
        QVERIFY(messages.size() >= 2);
        QVERIFY2(!messages.back().text.isEmpty(), qPrintable(messages.back().stopReason));
        QVERIFY(!QJsonDocument(window.chat().current().toJson()).toJson().contains("sekrit"));
    }
#endif

    void openingADamagedFileShowsAMessage() {
        QTemporaryDir dir;
        deepstack::testing::writeBytes(dir.filePath("scan.pdf"), "not a pdf");
        MainWindow window;
        window.show();
        window.openFiles({dir.filePath("scan.pdf")});
        auto* box = window.findChild<QMessageBox*>("errorMessage");
        QVERIFY(box != nullptr);
        QVERIFY2(box->text().contains("scan.pdf"), qPrintable(box->text()));
        QCOMPARE(window.workspaceModel().rowCount(), 0);
    }

    void startsAndCloses() {
        auto* window = new MainWindow;
        window->show();
        QVERIFY(QTest::qWaitForWindowExposed(window));
        QCOMPARE(window->windowTitle(), QString("DeepStack Studio"));
        QVERIFY(window->findChild<QWidget*>("workspace") != nullptr);
        QVERIFY(window->findChild<QWidget*>("workspaceHint")->isVisible());
        QCOMPARE(window->findChild<QLabel*>("modelStatus")->text(), QString("No model loaded"));
        QStringList menus;
        for (auto* action : window->menuBar()->actions()) menus << action->text();
        QCOMPARE(menus, (QStringList{"&File", "&Chat", "&Model", "&View", "&Help"}));
        QVERIFY(window->close());
        delete window;
    }

    void quitActionClosesTheWindow() {
        MainWindow window;
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        auto* quit = window.findChild<QAction*>("actionQuit");
        QVERIFY(quit != nullptr);
        QCOMPARE(quit->shortcut(), QKeySequence(QKeySequence::Quit));
        quit->trigger();
        QVERIFY(!window.isVisible());
    }

    // A context larger than the model was trained for is cut to its window, and the model manager says so.
    void contextIsCutToTheModelsWindow() {
        MainWindow window;
        auto* manager = window.modelManager();
        manager->findChild<QSpinBox*>("contextTokens")->setValue(4096);
        QTRY_VERIFY_WITH_TIMEOUT(!window.inference().isLoading(), 120000);  // a model the window brought back
        window.loadModel(deepstack::testing::deepStackModelFolder());
        auto* status = manager->findChild<QLabel*>("modelManagerStatus");
        QTRY_VERIFY2_WITH_TIMEOUT(status->text().startsWith("Loaded deepstack-l "), qPrintable(status->text()), 60000);
        QVERIFY2(status->text().contains("context 1024 tokens, the window it was trained for"), qPrintable(status->text()));
        QCOMPARE(window.inference().model()->contextTokens, qint64{1024});
    }

    // The picture budget chosen in the model manager is the one the model runs with, and it is said.
    void modelManagerPictureBudgetReachesTheModel() {
        QTemporaryDir dir;
        const auto folder = QString::fromStdString((std::filesystem::path(dir.path().toStdString()) / "qwen").string());
        writeLoadableQwenFolder(folder.toStdString());
        MainWindow window;
        auto* manager = window.modelManager();
        auto* pictures = manager->findChild<QComboBox*>("pictureBudget");
        QVERIFY(pictures != nullptr);
        QVERIFY2(pictures->itemText(0).startsWith("Automatic: "), qPrintable(pictures->itemText(0)));
        pictures->setCurrentIndex(pictures->findData(qint64{1} << 19));
        QCOMPARE(pictures->currentText(), QString("0.5 M pixels (up to 512 tokens a picture)"));
        QTRY_VERIFY_WITH_TIMEOUT(!window.inference().isLoading(), 120000);  // a model the window brought back
        window.loadModel(folder);
        auto* status = manager->findChild<QLabel*>("modelManagerStatus");
        QTRY_VERIFY2_WITH_TIMEOUT(status->text().startsWith("Loaded qwen "), qPrintable(status->text() + " | " + window.statusBar()->currentMessage()), 30000);
        QVERIFY2(status->text().contains("pictures up to 0.5 M pixels (up to 512 tokens a picture)"), qPrintable(status->text()));
        QCOMPARE(window.inference().model()->maxImagePixels, qint64{1} << 19);
        // Remembered for the next load.
        QCOMPARE(QSettings().value("models/maxImagePixels").toLongLong(), qint64{1} << 19);
    }

    // Pages that do not fit the context say so, and "fit to the context" picks the sharpest DPI at which they do
    // (a Qwen3-VL, whose image tokens follow the pages' pixels up to its picture budget).
    void fitTheTickedPagesToTheContext() {
        QTemporaryDir dir;
        const auto folder = QString::fromStdString((std::filesystem::path(dir.path().toStdString()) / "qwen").string());
        writeLoadableQwenFolder(folder.toStdString());
        const auto pdf = dir.filePath("scan.pdf");
        deepstack::testing::writePdf(pdf, 8);
        QSettings().remove("models/maxImagePixels");  // the automatic budget
        MainWindow window;
        window.show();
        window.openFiles({pdf});
        QTRY_VERIFY_WITH_TIMEOUT(!window.inference().isLoading(), 120000);
        window.loadModel(folder);
        QTRY_VERIFY_WITH_TIMEOUT(window.inference().model().has_value() && window.inference().model()->folder == folder, 60000);
        window.chat().newConversation();
        const auto path = QFileInfo(pdf).absoluteFilePath();
        QCOMPARE(window.pageTokens({path, 0}, 72) < window.pageTokens({path, 0}, 144), true);  // fewer pixels, fewer tokens
        int ticked = 0;
        while (!window.chatPanel().attachmentsText().contains("do not fit") && ticked < 8)
            window.workspaceModel().setAttached({path, ticked++}, true);
        QVERIFY2(window.chatPanel().attachmentsText().contains("fit to the context"), qPrintable(window.chatPanel().attachmentsText()));
        const auto room = window.contextLeft() - 64 - window.chat().current().sampling.maxTokens;
        int expected = 0;
        for (const int dpi : {300, 200, 144, 100, 72}) {
            qint64 total = 0;
            for (int p = 0; p < ticked; ++p) total += window.pageTokens({path, p}, dpi);
            if (total <= room) {
                expected = dpi;
                break;
            }
        }
        QVERIFY2(expected > 0 && expected < 144, qPrintable(QString("%1 pages fit at %2 DPI").arg(ticked).arg(expected)));
        Q_EMIT window.chatPanel().findChild<QLabel*>("attachmentsLabel")->linkActivated("fit");
        QCOMPARE(window.findChild<QComboBox*>("renderDpi")->currentData().toInt(), expected);
        QVERIFY2(!window.chatPanel().attachmentsText().contains("do not fit"), qPrintable(window.chatPanel().attachmentsText()));
    }

    // The weights choice: each entry shows the memory the weights would take once the folder is inspected, and
    // the chosen format is the one the model runs with.
    void modelManagerWeightsChoiceReachesTheModel() {
        QTemporaryDir dir;
        const auto folder = QString::fromStdString((std::filesystem::path(dir.path().toStdString()) / "qwen").string());
        writeLoadableQwenFolder(folder.toStdString());
        MainWindow window;
        auto* manager = window.modelManager();
        auto* weights = manager->findChild<QComboBox*>("weights");
        QVERIFY(weights != nullptr);
        QCOMPARE(weights->count(), 4);
        weights->setCurrentIndex(weights->findData("q8_0"));
        QTRY_VERIFY_WITH_TIMEOUT(!window.inference().isLoading(), 120000);  // a model the window brought back
        window.loadModel(folder);
        QTRY_VERIFY_WITH_TIMEOUT(window.inference().model().has_value() && window.inference().model()->folder == folder, 30000);
        QTRY_VERIFY2_WITH_TIMEOUT(weights->itemText(1).startsWith("Q8_0 (8-bit): weights "), qPrintable(weights->itemText(1)), 30000);
        QVERIFY2(weights->itemText(0).startsWith("As the precision says: weights "), qPrintable(weights->itemText(0)));
        QVERIFY2(window.inference().model()->compute.startsWith("q8_0 + "), qPrintable(window.inference().model()->compute));
        QCOMPARE(QSettings().value("models/weights").toString(), QString("q8_0"));
        weights->setCurrentIndex(0);
        QSettings().setValue("models/weights", "auto");  // later tests load as before
    }

    void inspectShowsTheReport() {
        QTemporaryDir dir;
        const auto folder = std::filesystem::path(dir.path().toStdString()) / "qwen";
        deepstack::testing::write_tiny_folder(folder, deepstack::testing::tiny_qwen3_vl_config());
        MainWindow window;
        window.show();
        window.inspectModelFolder(QString::fromStdString(folder.string()));
        QTRY_VERIFY(window.findChild<deepstack::ui::ModelReportDialog*>("modelReportDialog") != nullptr);
        auto* dialog = window.findChild<deepstack::ui::ModelReportDialog*>("modelReportDialog");
        const auto text = dialog->findChild<QPlainTextEdit*>()->toPlainText();
        QVERIFY(text.contains("Qwen3-VL (qwen3_vl)"));
        QVERIFY(text.contains("no problems found"));
        dialog->close();
    }
};

DEEPSTACK_TEST_MAIN(TestMainWindow)

}  // namespace test_main_window
#include "test_main_window.moc"

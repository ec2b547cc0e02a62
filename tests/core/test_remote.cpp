// The remote engine's parts that need no server: server-sent events split anywhere, CRLF, comments, multi-line
// data, the line limit; and the errors of a server that is not there. test_remote_server talks to a real one.
#include <QtTest>

#include <string>
#include <vector>

#include "deepstack/error.h"
#include "deepstack/remote.h"
#include "remote/sse.h"

using namespace deepstack;

class TestRemote : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void eventsSurviveAnySplit() {
        const std::string stream =
            ": keep-alive\r\ndata: {\"a\":1}\r\n\r\nevent: message\ndata: line one\ndata: line two\n\ndata:[DONE]\r\rdata: tail";
        const std::vector<std::string> expected{"{\"a\":1}", "line one\nline two", "[DONE]", "tail"};
        for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
            std::vector<std::string> events;
            remote::SseParser parser([&](const std::string& data) { events.push_back(data); });
            parser.feed(std::string_view(stream).substr(0, cut));
            parser.feed(std::string_view(stream).substr(cut));
            parser.finish();
            QCOMPARE(events, expected);
        }
    }

    void aLineWithoutEndIsBounded() {
        remote::SseParser parser([](const std::string&) {}, 64);
        QVERIFY_THROWS_EXCEPTION(Error, parser.feed(std::string(100, 'x')));
    }

    void aClosedPortSaysSo() {
        try {
            (void)remote_model_ids("http://127.0.0.1:9/v1");
            QFAIL("a closed port answered");
        } catch (const Error& e) {
            QCOMPARE(e.kind(), ErrorKind::network);
            QVERIFY2(std::string(e.what()).find("127.0.0.1:9") != std::string::npos, e.what());
        }
    }
};

QTEST_GUILESS_MAIN(TestRemote)
#include "test_remote.moc"

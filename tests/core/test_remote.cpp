// The remote engine's parts that need no server: server-sent events split anywhere, CRLF, comments, multi-line
// data, the line limit; and the errors of a server that is not there, or that speaks TLS with a certificate nobody
// trusts (a self-signed one made here with openssl). test_remote_server talks to a real one.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include "test_main.h"

#include <string>
#include <vector>

#include "deepstack/error.h"
#include "deepstack/remote.h"
#include "remote/sse.h"

namespace test_remote {

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
            const std::string message = e.what();
            QVERIFY2(message.find("127.0.0.1:9") != std::string::npos && message.find("is the server running") != std::string::npos, e.what());
        }
    }

    // An https server whose certificate is self-signed: refused with a sentence that says so and what to do; the
    // same server asked in plain http, or an http server asked in https, each get their own sentence.
    void tlsFailuresSayWhatToDo() {
        QTemporaryDir dir;
        const auto key = dir.filePath("key.pem"), certificate = dir.filePath("cert.pem");
        QProcess openssl;
        openssl.start("openssl", {"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=deepstack-test",
                                  "-keyout", key, "-out", certificate});
        QVERIFY2(openssl.waitForFinished(60000) && openssl.exitCode() == 0, openssl.readAllStandardError().constData());
        const auto serve = [&](QProcess& server, bool tls) {
            const QString script = QString(
                "import http.server, ssl, sys\n"
                "class H(http.server.BaseHTTPRequestHandler):\n"
                "    def do_GET(self):\n"
                "        self.send_response(200); self.send_header('Content-Length', '2'); self.end_headers(); self.wfile.write(b'{}')\n"
                "    def log_message(self, *a): pass\n"
                "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
                "if %1:\n"
                "    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain(sys.argv[1], sys.argv[2])\n"
                "    s.socket = c.wrap_socket(s.socket, server_side=True)\n"
                "print(s.server_address[1], flush=True)\n"
                "s.serve_forever()\n").arg(tls ? "True" : "False");
            server.start("python3", {"-c", script, certificate, key});
            if (!server.waitForReadyRead(20000)) return QString();
            return QString(server.readLine()).trimmed();
        };
        const auto message_of = [](const std::string& url) {
            try {
                (void)remote_model_ids(url);
            } catch (const Error& e) {
                return std::string(e.what());
            }
            return std::string("answered");
        };
        QProcess https, http;
        const auto tls_port = serve(https, true);
        const auto plain_port = serve(http, false);
        QVERIFY(!tls_port.isEmpty() && !plain_port.isEmpty());
        const auto untrusted = message_of("https://127.0.0.1:" + tls_port.toStdString() + "/v1");
        const auto wrong_scheme = message_of("https://127.0.0.1:" + plain_port.toStdString() + "/v1");
        https.kill();
        http.kill();
        https.waitForFinished(5000);
        http.waitForFinished(5000);
        QVERIFY2(untrusted.find("TLS certificate is not trusted") != std::string::npos, untrusted.c_str());
        QVERIFY2(wrong_scheme.find("TLS handshake failed") != std::string::npos && wrong_scheme.find("http://") != std::string::npos,
                 wrong_scheme.c_str());
    }
};

DEEPSTACK_TEST_GUILESS_MAIN(TestRemote)

}  // namespace test_remote
#include "test_remote.moc"

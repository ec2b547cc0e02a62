#include "net/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <exception>
#include <cctype>
#include <memory>
#include <mutex>

#include "deepstack/error.h"

namespace deepstack::net {

namespace {

// curl's words for a failure, with what the user can do about the common ones.
std::string explain(CURLcode code, const std::string& detail) {
    switch (code) {
        case CURLE_COULDNT_RESOLVE_HOST: return "the host name was not found (" + detail + "): check the address";
        case CURLE_COULDNT_CONNECT:
            return "nothing answered there (" + detail + "): is the server running, and are the address and port right?";
        case CURLE_PEER_FAILED_VERIFICATION:
            return "the server's TLS certificate is not trusted (" + detail +
                   "): it may be self-signed, expired or issued for another name; if it is self-signed, add its certificate "
                   "authority to the system's store (update-ca-certificates), otherwise use the name it was issued for";
        case CURLE_SSL_CONNECT_ERROR:
            return "the TLS handshake failed (" + detail +
                   "): the server may speak plain HTTP (then its address starts with http://), or a proxy may be in the way";
        default: return detail;
    }
}

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
    const HttpCallbacks* callbacks = nullptr;
    bool announced = false;
    const std::atomic<bool>* cancel = nullptr;
    HttpResponse response;
    std::string* error_body = nullptr;
    bool stopped_by_sink = false;
    std::exception_ptr failure;  // thrown by a callback: carried across curl's C frames, rethrown after
    bool success_status = false;
};

// A header block starts again after each redirect: keep the last one only.
std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
    auto& t = *static_cast<Transfer*>(user);
    std::string line(data, size * count);
    if (line.rfind("HTTP/", 0) == 0) {
        t.response.headers.clear();
        return size * count;
    }
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
        auto name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        auto value = line.substr(colon + 1);
        const auto first = value.find_first_not_of(" \t");
        const auto last = value.find_last_not_of(" \t\r\n");
        t.response.headers[name] = first == std::string::npos ? std::string() : value.substr(first, last - first + 1);
    }
    return size * count;
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
    auto& t = *static_cast<Transfer*>(user);
    const auto bytes = size * count;
    if (!t.success_status) {
        if (t.error_body != nullptr && t.error_body->size() < 65536) t.error_body->append(data, std::min<std::size_t>(bytes, 65536 - t.error_body->size()));
        return bytes;
    }
    try {
        if (!t.announced) {
            t.announced = true;
            if (t.callbacks->on_headers) t.callbacks->on_headers(t.response);
        }
        if (!t.callbacks->sink(std::span<const char>(data, bytes))) {
            t.stopped_by_sink = true;
            return 0;  // curl ends the transfer with CURLE_WRITE_ERROR
        }
    } catch (...) {
        t.failure = std::current_exception();
        return 0;
    }
    return bytes;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    const auto& t = *static_cast<Transfer*>(user);
    if (t.cancel != nullptr && t.cancel->load()) return 1;
    return t.callbacks->keep_going && !t.callbacks->keep_going() ? 1 : 0;
}

// The status is known once the headers are in; the body callback needs it to tell data from an error page.
std::size_t on_header_status(char* data, std::size_t size, std::size_t count, void* user) {
    auto& t = *static_cast<Transfer*>(user);
    std::string line(data, size * count);
    if (line.rfind("HTTP/", 0) == 0) {
        const auto space = line.find(' ');
        const long status = space == std::string::npos ? 0 : std::strtol(line.c_str() + space + 1, nullptr, 10);
        t.response.status = status;
        t.success_status = status >= 200 && status < 300;
    }
    return on_header(data, size, count, user);
}

}  // namespace

HttpResponse http_get(const HttpRequest& request, const HttpCallbacks& callbacks, const std::atomic<bool>* cancel,
                      std::string* error_body) {
    global_init();
    std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl) throw Error(ErrorKind::internal, request.url, "could not start an HTTP transfer");
    Transfer t;
    t.callbacks = &callbacks;
    t.cancel = cancel;
    t.error_body = error_body;
    curl_slist* headers = nullptr;
    for (const auto& h : request.headers) headers = curl_slist_append(headers, h.c_str());
    // Asked as a header, not through curl's resume option, so that a server that ignores it (200) still delivers.
    if (request.resume_from > 0) headers = curl_slist_append(headers, ("Range: bytes=" + std::to_string(request.resume_from) + "-").c_str());
    std::unique_ptr<curl_slist, void (*)(curl_slist*)> header_list(headers, curl_slist_free_all);
    char error[CURL_ERROR_SIZE] = {};

    auto* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
    if (request.post_body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.post_body->data());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.post_body->size()));
    }
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);  // never send credentials to the host a redirect names
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "deepstack-studio/1.0");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, request.connect_timeout_s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, request.stall_timeout_s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header_status);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);

    const auto code = curl_easy_perform(c);
    char* final_url = nullptr;
    curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &final_url);
    if (final_url != nullptr) t.response.url = final_url;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &t.response.status);
    if (t.failure) std::rethrow_exception(t.failure);
    if (code == CURLE_ABORTED_BY_CALLBACK || (code == CURLE_WRITE_ERROR && t.stopped_by_sink))
        throw Error(ErrorKind::cancelled, request.url, "the download was cancelled");
    if (code != CURLE_OK) throw Error(ErrorKind::network, request.url, explain(code, error[0] != '\0' ? error : curl_easy_strerror(code)));
    return t.response;
}

TextResponse http_get_text(const HttpRequest& request, const std::atomic<bool>* cancel) {
    TextResponse result;
    std::string error_body;
    HttpCallbacks callbacks;
    callbacks.sink = [&](std::span<const char> chunk) {
        result.body.append(chunk.data(), chunk.size());
        if (result.body.size() > (64u << 20)) throw Error(ErrorKind::network, request.url, "the answer is larger than 64 MB: not an API answer");
        return true;
    };
    result.response = http_get(request, callbacks, cancel, &error_body);
    if (result.response.status < 200 || result.response.status >= 300) result.body = std::move(error_body);
    return result;
}

}  // namespace deepstack::net

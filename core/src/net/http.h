// HTTP(S) GETs and POSTs for the core (model downloads, remote engines), over libcurl: redirects followed (credentials never sent to another
// host), proxies from the environment (http_proxy, https_proxy, no_proxy, as curl reads them), a body streamed to
// the caller in chunks, a range to resume from, and cancellation that ends a transfer within a fraction of a
// second even when the server sends nothing. Torch-free, Qt-free.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace deepstack::net {

struct HttpRequest {
    std::string url;
    std::optional<std::string> post_body;  // set: a POST of these bytes (headers say their type), else a GET
    std::vector<std::string> headers;  // "Authorization: Bearer ...": sent to the first host only
    std::uint64_t resume_from = 0;     // > 0: ask for the bytes from here on (Range)
    long connect_timeout_s = 30;
    // A transfer slower than 1 byte/s for this long is dropped (a stalled connection), as a network error.
    long stall_timeout_s = 60;
};

struct HttpResponse {
    long status = 0;
    std::string url;                              // after redirects
    std::map<std::string, std::string> headers;  // of the final response, names in lower case
};

// The body arrives in `sink` (return false to stop: Error(cancelled)) only for a 2xx answer, after `on_headers`
// has seen the final response (a resumed request answered 200 rather than 206 restarts the file there); an error
// status is returned with its body (at most 64 kB) in `error_body`. `cancel` is polled about ten times a second.
// Throws Error(network) when no answer comes or it breaks off (DNS, refused, TLS, dropped, stalled) and
// Error(cancelled) when cancelled.
struct HttpCallbacks {
    std::function<bool(std::span<const char>)> sink;
    std::function<void(const HttpResponse&)> on_headers;
    // Polled while connecting and while no data flows too (a stalled transfer may take a minute to say so): false
    // ends the transfer as a cancel does. For work beside it that already failed.
    std::function<bool()> keep_going;
};
HttpResponse http_get(const HttpRequest& request, const HttpCallbacks& callbacks, const std::atomic<bool>* cancel = nullptr,
                      std::string* error_body = nullptr);

// The whole body of a GET as text; an answer other than 2xx is returned as is (status, body) for the caller to
// explain.
struct TextResponse {
    HttpResponse response;
    std::string body;
};
TextResponse http_get_text(const HttpRequest& request, const std::atomic<bool>* cancel = nullptr);

}  // namespace deepstack::net

#include "deepstack/remote.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "deepstack/error.h"
#include "net/http.h"
#include "remote/sse.h"

namespace deepstack {

namespace {

using Json = nlohmann::json;

std::string base64(const std::vector<unsigned char>& bytes) {
    static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const unsigned v = bytes[i] << 16 | bytes[i + 1] << 8 | bytes[i + 2];
        out += alphabet[v >> 18], out += alphabet[(v >> 12) & 63], out += alphabet[(v >> 6) & 63], out += alphabet[v & 63];
    }
    if (i + 1 == bytes.size()) {
        const unsigned v = bytes[i] << 16;
        out += alphabet[v >> 18], out += alphabet[(v >> 12) & 63], out += "==";
    } else if (i + 2 == bytes.size()) {
        const unsigned v = bytes[i] << 16 | bytes[i + 1] << 8;
        out += alphabet[v >> 18], out += alphabet[(v >> 12) & 63], out += alphabet[(v >> 6) & 63], out += '=';
    }
    return out;
}

// A picture as the API takes it: resized down (aspect kept) to the budget, PNG, a data URL.
std::string data_url(const RgbImage& image, std::int64_t max_pixels) {
    cv::Mat rgb(image.height, image.width, CV_8UC3, const_cast<std::uint8_t*>(image.pixels.data()));  // NOLINT: read only
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    const auto pixels = static_cast<double>(image.width) * image.height;
    if (max_pixels > 0 && pixels > static_cast<double>(max_pixels)) {
        const double scale = std::sqrt(static_cast<double>(max_pixels) / pixels);
        cv::resize(bgr, bgr, cv::Size(std::max(1, static_cast<int>(image.width * scale)), std::max(1, static_cast<int>(image.height * scale))),
                   0, 0, cv::INTER_AREA);
    }
    std::vector<unsigned char> png;
    if (!cv::imencode(".png", bgr, png)) throw Error(ErrorKind::internal, "", "a picture could not be encoded as PNG");
    return "data:image/png;base64," + base64(png);
}

std::string trimmed_base(std::string url) {
    while (!url.empty() && url.back() == '/') url.pop_back();
    return url;
}

std::vector<std::string> auth(const std::string& api_key) {
    std::vector<std::string> headers{"Content-Type: application/json", "Accept: text/event-stream, application/json"};
    if (!api_key.empty()) headers.push_back("Authorization: Bearer " + api_key);
    return headers;
}

// One sentence for each way a server says no.
[[noreturn]] void throw_status(const std::string& url, const net::HttpResponse& r, const std::string& body) {
    std::string says;
    try {
        const auto json = Json::parse(body);
        if (json.contains("error")) {
            const auto& e = json["error"];
            says = e.is_string() ? e.get<std::string>() : e.is_object() && e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>() : "";
        }
    } catch (const std::exception&) {
        says = body.substr(0, 200);
    }
    std::string message;
    switch (r.status) {
        case 401: message = "the server refused the API key (401): set the key it expects"; break;
        case 403: message = "the server denied access (403)"; break;
        case 404: message = "not found (404): check that the address is the API's root (it usually ends in /v1) and the model name"; break;
        case 400: message = "the server refused the request (400)"; break;
        case 429:
        case 503: {
            const auto retry = r.headers.find("retry-after");
            message = "the server is busy (" + std::to_string(r.status) + ")" +
                      (retry != r.headers.end() ? "; it asks to try again after " + retry->second + " s" : "; try again later");
            break;
        }
        default: message = "the server answered " + std::to_string(r.status);
    }
    if (!says.empty()) message += ": " + says;
    // A context overflow is the user's to act on: say so in their terms.
    if (says.find("context") != std::string::npos && (says.find("exceed") != std::string::npos || says.find("long") != std::string::npos))
        message += " (the conversation no longer fits the server's context: start a new chat or send smaller pictures)";
    throw Error(r.status == 429 || r.status == 503 ? ErrorKind::resources : ErrorKind::network, url, message);
}

double ms_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

struct RemoteMessage {
    std::string role;
    std::string text;
    std::vector<std::string> images;  // data URLs
};

class RemoteModel;

class RemoteConversation : public Conversation {
public:
    RemoteConversation(const RemoteModel& model, std::string system_prompt);

    GenerationResult send(const Message& user, const SamplingSettings& sampling, const GenerationCallbacks& callbacks,
                          const std::atomic<bool>* cancel) override;
    std::int64_t context_tokens() const override { return context_tokens_; }
    std::int64_t context_capacity() const override;
    std::size_t turns() const override { return turn_starts_.size(); }
    void rewind(std::size_t turn) override {
        if (turn > turn_starts_.size()) throw Error(ErrorKind::internal, "", "rewind past the conversation's end");
        if (turn == turn_starts_.size()) return;
        messages_.resize(turn_starts_[turn]);
        turn_starts_.resize(turn);
    }
    void replay(const Message& user, const std::string& reply_text, const std::vector<TokenId>&) override {
        turn_starts_.push_back(messages_.size());
        messages_.push_back(encode(user));
        messages_.push_back({"assistant", reply_text, {}});
    }
    AttentionCapture capture_attention(const AttentionRequest&, const std::atomic<bool>*) override {
        throw Error(ErrorKind::unsupported, "",
                    "attention views need a model running on this machine: a remote engine does not show where its model looks");
    }
    Ablation ablate(const AblationRequest&, const SamplingSettings&, const std::atomic<bool>*) override {
        throw Error(ErrorKind::unsupported, "",
                    "stack ablation needs a model running on this machine: a remote engine cannot leave its model's groups out");
    }
    InjectionMap measure_injections(const std::atomic<bool>*) override {
        throw Error(ErrorKind::unsupported, "",
                    "the injection map needs a model running on this machine: a remote engine does not show its hidden states");
    }

private:
    RemoteMessage encode(const Message& user) const;
    Json request_body(const SamplingSettings& sampling) const;

    const RemoteModel& model_;
    std::string system_prompt_;
    std::vector<RemoteMessage> messages_;
    std::vector<std::size_t> turn_starts_;  // index in messages_ of each exchange's question
    std::int64_t context_tokens_ = 0;
};

class RemoteModel : public Model {
public:
    explicit RemoteModel(RemoteOptions options, std::int64_t context) : options_(std::move(options)) {
        options_.base_url = trimmed_base(options_.base_url);
        info_.family = "remote";
        info_.display_name = options_.model;
        info_.folder = options_.base_url;
        info_.device = options_.base_url;
        info_.compute = "remote";
        info_.context_tokens = context;
        info_.max_image_pixels = options_.max_image_pixels;
    }
    const ModelInfo& info() const override { return info_; }
    SamplingSettings default_sampling() const override { return {}; }
    std::unique_ptr<Conversation> start_conversation(const std::string& system_prompt) override {
        return std::make_unique<RemoteConversation>(*this, system_prompt);
    }
    StackPlan stack_plan(std::int64_t, std::int64_t) const override {
        throw Error(ErrorKind::unsupported, "",
                    "the stack map needs a model running on this machine: a remote engine does not say where its stacks enter");
    }
    const RemoteOptions& options() const { return options_; }

private:
    RemoteOptions options_;
    ModelInfo info_;
};

RemoteConversation::RemoteConversation(const RemoteModel& model, std::string system_prompt)
    : model_(model), system_prompt_(std::move(system_prompt)) {}

std::int64_t RemoteConversation::context_capacity() const { return model_.info().context_tokens; }

RemoteMessage RemoteConversation::encode(const Message& user) const {
    RemoteMessage m{"user", user.text, {}};
    for (const auto& image : user.images) m.images.push_back(data_url(image, model_.options().max_image_pixels));
    return m;
}

Json RemoteConversation::request_body(const SamplingSettings& s) const {
    Json messages = Json::array();
    if (!system_prompt_.empty()) messages.push_back({{"role", "system"}, {"content", system_prompt_}});
    for (const auto& m : messages_) {
        if (m.images.empty()) {
            messages.push_back({{"role", m.role}, {"content", m.text}});
            continue;
        }
        Json content = Json::array();
        for (const auto& url : m.images) content.push_back({{"type", "image_url"}, {"image_url", {{"url", url}}}});
        content.push_back({{"type", "text"}, {"text", m.text}});
        messages.push_back({{"role", m.role}, {"content", content}});
    }
    Json body = {{"model", model_.options().model},
                 {"messages", messages},
                 {"stream", true},
                 {"stream_options", {{"include_usage", true}}},
                 {"max_tokens", s.max_new_tokens},
                 {"temperature", s.temperature},
                 {"top_p", s.top_p}};
    // Fields beyond OpenAI's own that llama.cpp, vLLM and SGLang read; sent only when they change anything.
    if (s.top_k > 0) body["top_k"] = s.top_k;
    if (s.seed != 0) body["seed"] = s.seed;
    if (s.presence_penalty != 0.0) body["presence_penalty"] = s.presence_penalty;
    if (s.repetition_penalty != 1.0) {
        body["repetition_penalty"] = s.repetition_penalty;  // vLLM, SGLang
        body["repeat_penalty"] = s.repetition_penalty;      // llama.cpp
    }
    return body;
}

GenerationResult RemoteConversation::send(const Message& user, const SamplingSettings& sampling, const GenerationCallbacks& callbacks,
                                          const std::atomic<bool>* cancel) {
    GenerationResult result;
    if (cancel != nullptr && cancel->load()) {
        result.stop = StopReason::cancelled;
        return result;
    }
    const auto question = encode(user);
    const auto start = std::chrono::steady_clock::now();
    const auto before = messages_.size();
    messages_.push_back(question);
    auto body = request_body(sampling);
    messages_.resize(before);

    net::HttpRequest request;
    request.url = model_.options().base_url + "/chat/completions";
    request.headers = auth(model_.options().api_key);
    request.post_body = body.dump();
    request.stall_timeout_s = 600;  // a long prefill of big pictures may keep a server quiet for minutes

    std::string finish;
    auto last = start;
    bool first = true;
    remote::SseParser parser([&](const std::string& data) {
        if (data == "[DONE]") return;
        Json chunk;
        try {
            chunk = Json::parse(data);
        } catch (const std::exception&) {
            throw Error(ErrorKind::format, request.url, "the server streamed something that is not JSON: " + data.substr(0, 120));
        }
        if (chunk.contains("error")) {
            const auto& e = chunk["error"];
            throw Error(ErrorKind::network, request.url,
                        "the server stopped with an error: " + (e.is_object() && e.contains("message") ? e["message"].dump() : e.dump()));
        }
        if (chunk.contains("usage") && chunk["usage"].is_object()) {
            const auto& u = chunk["usage"];
            if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number_integer()) result.prompt_tokens = u["prompt_tokens"].get<std::int64_t>();
            if (u.contains("total_tokens") && u["total_tokens"].is_number_integer()) result.context_tokens = u["total_tokens"].get<std::int64_t>();
        }
        // llama.cpp adds its own timings: the prefill as the server measured it.
        if (chunk.contains("timings") && chunk["timings"].is_object() && chunk["timings"].contains("prompt_ms") &&
            chunk["timings"]["prompt_ms"].is_number())
            result.prefill_ms = chunk["timings"]["prompt_ms"].get<double>();
        if (!chunk.contains("choices") || !chunk["choices"].is_array() || chunk["choices"].empty()) return;
        const auto& choice = chunk["choices"][0];
        if (choice.contains("finish_reason") && choice["finish_reason"].is_string()) finish = choice["finish_reason"].get<std::string>();
        if (!choice.contains("delta") || !choice["delta"].is_object()) return;
        const auto& delta = choice["delta"];
        if (!delta.contains("content") || !delta["content"].is_string()) return;
        const auto text = delta["content"].get<std::string>();
        if (text.empty()) return;
        const auto now = std::chrono::steady_clock::now();
        if (first) {
            result.time_to_first_token_ms = ms_since(start);
            first = false;
        } else {
            result.decode_ms.push_back(std::chrono::duration<double, std::milli>(now - last).count());
        }
        last = now;
        result.text += text;
        if (callbacks.on_text) callbacks.on_text(text);
    });

    net::HttpCallbacks http;
    http.sink = [&](std::span<const char> bytes) {
        parser.feed(std::string_view(bytes.data(), bytes.size()));
        return true;
    };
    std::string error_body;
    result.stop = StopReason::end_of_turn;
    try {
        const auto response = net::http_get(request, http, cancel, &error_body);
        if (response.status < 200 || response.status >= 300) throw_status(request.url, response, error_body);
        parser.finish();
        if (finish == "length") result.stop = StopReason::max_tokens;
        else if (finish.empty()) result.stop = StopReason::interrupted;  // the stream ended without saying why
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::cancelled) {
            result.stop = StopReason::cancelled;
        } else if (e.kind() == ErrorKind::network && !result.text.empty()) {
            result.stop = StopReason::interrupted;  // the answer so far is kept
        } else {
            throw;
        }
    }
    // The exchange stays, whatever stopped it, as a local model's does.
    turn_starts_.push_back(messages_.size());
    messages_.push_back(question);
    messages_.push_back({"assistant", result.text, {}});
    if (result.context_tokens > 0) context_tokens_ = result.context_tokens;
    result.context_tokens = context_tokens_;
    return result;
}

}  // namespace

std::vector<std::string> remote_model_ids(const std::string& base_url, const std::string& api_key) {
    net::HttpRequest request;
    request.url = trimmed_base(base_url) + "/models";
    request.headers = auth(api_key);
    request.connect_timeout_s = 10;
    const auto answer = net::http_get_text(request);
    if (answer.response.status != 200) throw_status(request.url, answer.response, answer.body);
    std::vector<std::string> ids;
    try {
        const auto json = Json::parse(answer.body);
        for (const auto& m : json.at("data"))
            if (m.contains("id") && m["id"].is_string()) ids.push_back(m["id"].get<std::string>());
    } catch (const std::exception& e) {
        throw Error(ErrorKind::format, request.url, std::string("not an OpenAI-compatible model list: ") + e.what());
    }
    return ids;
}

std::unique_ptr<Model> connect_remote(const RemoteOptions& options) {
    auto chosen = options;
    const auto ids = remote_model_ids(options.base_url, options.api_key);
    if (chosen.model.empty()) {
        if (ids.size() != 1) {
            std::string all;
            for (const auto& id : ids) all += (all.empty() ? "" : ", ") + id;
            throw Error(ErrorKind::config, options.base_url, "the server serves " + std::to_string(ids.size()) + " models (" + all + "): name one");
        }
        chosen.model = ids.front();
    } else if (std::find(ids.begin(), ids.end(), chosen.model) == ids.end()) {
        std::string all;
        for (const auto& id : ids) all += (all.empty() ? "" : ", ") + id;
        throw Error(ErrorKind::config, options.base_url, "the server does not serve '" + chosen.model + "' (it serves: " + all + ")");
    }
    return std::make_unique<RemoteModel>(chosen, 0);
}

}  // namespace deepstack

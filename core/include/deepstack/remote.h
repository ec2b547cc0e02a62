// Chat through an existing serving engine over the OpenAI-compatible API (llama.cpp's llama-server, vLLM, SGLang,
// LM Studio): the same Model and Conversation as a model running here, so the chat, Stop, regenerate, edit and
// saved conversations work alike. Pictures go as PNG data URLs at the picture budget; the answer streams as
// server-sent events; Stop closes the stream at once. What only a model running here can do (the stack plan,
// attention capture) is an Error(unsupported) that says so. Torch-free.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "deepstack/engine.h"

namespace deepstack {

struct RemoteOptions {
    std::string base_url;      // the API's root, "http://127.0.0.1:8080/v1"
    std::string model;         // an id /models lists; empty: the one it lists (an error when it lists several)
    std::string api_key;       // sent as a bearer token to that server only; never stored in a conversation or log
    std::int64_t max_image_pixels = 1 << 20;  // pictures are resized down to this many pixels before they are sent
};

// The model ids the server lists (GET <base>/models). Error(network) with a sentence for each way it fails:
// unreachable, TLS, 401 (a key is needed or was refused), 404 (not an OpenAI-compatible API), 429 / 503 (busy).
std::vector<std::string> remote_model_ids(const std::string& base_url, const std::string& api_key = {});

// Checks that the server answers and serves the model, then returns it as a Model.
std::unique_ptr<Model> connect_remote(const RemoteOptions& options);

}  // namespace deepstack

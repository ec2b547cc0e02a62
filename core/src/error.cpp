#include "deepstack/error.h"

namespace deepstack {

const char* to_string(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::io: return "I/O error";
        case ErrorKind::format: return "format error";
        case ErrorKind::config: return "config error";
        case ErrorKind::shape: return "tensor error";
        case ErrorKind::unsupported: return "unsupported";
        case ErrorKind::resources: return "not enough resources";
        case ErrorKind::cancelled: return "cancelled";
        case ErrorKind::network: return "network error";
        case ErrorKind::internal: return "internal error";
    }
    return "error";
}

namespace {
std::string compose(const std::string& file, const std::string& tensor, const std::string& detail) {
    std::string text;
    if (!file.empty()) text += file + ": ";
    if (!tensor.empty()) text += "tensor '" + tensor + "': ";
    text += detail;
    return text;
}
}  // namespace

Error::Error(ErrorKind kind, std::string file, std::string tensor, std::string detail)
    : std::runtime_error(compose(file, tensor, detail)),
      kind_(kind),
      file_(std::move(file)),
      tensor_(std::move(tensor)),
      detail_(std::move(detail)) {}

}  // namespace deepstack

// The one error type the core throws across its public boundary.
//
// Every failure a user can cause (a broken model folder, a truncated file, a config that disagrees with the
// weights) becomes a deepstack::Error that names the file, the tensor when there is one, and what was expected
// and found, so that the CLI and the app can show it as it is.
#pragma once

#include <stdexcept>
#include <string>

namespace deepstack {

enum class ErrorKind {
    io,           // a file could not be opened, read or mapped
    format,       // a file is not what it claims to be (safetensors header, JSON)
    config,       // a config is missing a field, has a wrong type, or disagrees with another file
    shape,        // a tensor is missing, unused, or has the wrong shape or dtype
    unsupported,  // a valid input this build cannot run (model family, dtype, device)
    resources,    // not enough memory for what was asked
    cancelled,    // the user stopped the run
    network,      // a server could not be reached, answered with an error, or sent what does not verify
    internal,     // a bug: please report
};

const char* to_string(ErrorKind kind);

class Error : public std::runtime_error {
public:
    Error(ErrorKind kind, std::string file, std::string tensor, std::string detail);
    Error(ErrorKind kind, std::string file, std::string detail) : Error(kind, std::move(file), {}, std::move(detail)) {}

    ErrorKind kind() const noexcept { return kind_; }
    const std::string& file() const noexcept { return file_; }      // may be empty
    const std::string& tensor() const noexcept { return tensor_; }  // may be empty
    const std::string& detail() const noexcept { return detail_; }

private:
    ErrorKind kind_;
    std::string file_;
    std::string tensor_;
    std::string detail_;
};

}  // namespace deepstack

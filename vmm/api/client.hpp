// A small HTTP/1.1 client for the API socket (foldctl, benchmarks, tests).
// One keep-alive connection, reopened when the server closed it.
#pragma once

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace foldvm::api {

struct HttpResult {
    int status = 0;
    std::string content_type;
    std::string body;
};

// The socket could not be reached, or the exchange failed or timed out.
class ClientError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class UnixHttpClient {
  public:
    explicit UnixHttpClient(std::string socket_path,
                            std::chrono::milliseconds timeout = std::chrono::seconds(60));
    ~UnixHttpClient();
    UnixHttpClient(const UnixHttpClient&) = delete;
    UnixHttpClient& operator=(const UnixHttpClient&) = delete;

    // Throws ClientError on connection or protocol failures; HTTP errors are
    // returned with their status.
    HttpResult request(std::string_view method, std::string_view target, std::string_view body = {},
                       std::string_view content_type = "application/json");

    const std::string& socket_path() const { return path_; }

  private:
    struct Impl;
    std::string path_;
    std::chrono::milliseconds timeout_;
    std::unique_ptr<Impl> impl_;
};

} // namespace foldvm::api

// The REST control socket: HTTP/1.1 + JSON over a Unix domain socket
// (Boost.Beast on Asio). Requests that may wait on VMs or the dedup engine
// run on a worker pool so they never hold up other clients.
#pragma once

#include "vmm/machine/host.hpp"
#include "vmm/overcommit/overcommit_service.hpp"
#include "vmm/sharing/dedup_service.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace foldvm::api {

struct ApiServerOptions {
    std::string socket_path;
    unsigned io_threads = 0;     // 0: one per CPU, at least 2
    unsigned worker_threads = 4; // for blocking handlers (create, state changes, ...)
    size_t max_connections = 1024;
    size_t max_vms = 4096;                    // POST /vms answers 409 beyond this
    std::chrono::seconds idle_timeout{60};    // keep-alive connection without a request
    std::chrono::seconds request_timeout{30}; // to receive a request or send a response
    std::function<void(const std::string&)> log;
};

class ApiServer {
  public:
    // Binds the socket (mode 0600) and starts serving. A stale socket file is
    // replaced; a live server on the path or a non-socket file is an error.
    ApiServer(Host& host, DedupService& dedup, OvercommitService& overcommit,
              ApiServerOptions options);
    ~ApiServer();
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    // Stops accepting, drops connections, waits for running handlers and
    // removes the socket file. Idempotent.
    void stop();
    const std::string& socket_path() const;

    struct Impl; // public so the connection code in api_server.cpp can name it

  private:
    std::unique_ptr<Impl> impl_;
};

// Creates a listening Unix socket at `path` with mode 0600 (see ApiServer).
// Returns the file descriptor.
int bind_unix_socket(const std::string& path, int backlog);

} // namespace foldvm::api

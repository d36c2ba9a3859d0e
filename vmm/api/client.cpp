#include "client.hpp"

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <optional>

namespace foldvm::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Local = net::local::stream_protocol;

struct UnixHttpClient::Impl {
    net::io_context ioc;
    std::optional<beast::basic_stream<Local>> stream;
    beast::flat_buffer buffer;
};

UnixHttpClient::UnixHttpClient(std::string socket_path, std::chrono::milliseconds timeout)
    : path_(std::move(socket_path)), timeout_(timeout), impl_(std::make_unique<Impl>()) {}

UnixHttpClient::~UnixHttpClient() = default;

namespace {

// Runs the queued operations to completion; basic_stream enforces the timeout.
void run(net::io_context& ioc) {
    ioc.restart();
    ioc.run();
}

std::string describe_connect_error(const std::string& path, const beast::error_code& ec) {
    std::string hint;
    if (ec == net::error::not_found || ec == net::error::connection_refused)
        hint = " (is `foldvm serve --api-sock " + path + "` running?)";
    else if (ec == net::error::access_denied)
        hint = " (the socket is mode 0600: run as the daemon's user)";
    return "cannot connect to API socket '" + path + "': " + ec.message() + hint;
}

} // namespace

HttpResult UnixHttpClient::request(std::string_view method, std::string_view target,
                                   std::string_view body, std::string_view content_type) {
    Impl& s = *impl_;
    http::request<http::string_body> req;
    req.method_string(beast::string_view(method.data(), method.size()));
    req.target(beast::string_view(target.data(), target.size()));
    req.version(11);
    req.set(http::field::host, "localhost");
    req.set(http::field::user_agent, "foldvm-client");
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
        req.set(http::field::content_type,
                beast::string_view(content_type.data(), content_type.size()));
        req.body() = std::string(body);
    }
    req.keep_alive(true);
    req.prepare_payload();

    for (int attempt = 0; attempt < 2; ++attempt) {
        bool fresh = !s.stream;
        if (fresh) {
            s.stream.emplace(s.ioc);
            s.buffer.clear();
            beast::error_code ec;
            s.stream->expires_after(timeout_);
            s.stream->async_connect(Local::endpoint(path_), [&ec](beast::error_code e) { ec = e; });
            run(s.ioc);
            if (ec) {
                s.stream.reset();
                throw ClientError(describe_connect_error(path_, ec));
            }
        }
        beast::error_code ec;
        http::response_parser<http::string_body> parser;
        parser.body_limit(256u << 20);
        s.stream->expires_after(timeout_);
        http::async_write(*s.stream, req, [&](beast::error_code e, size_t) {
            ec = e;
            if (e) return;
            http::async_read(*s.stream, s.buffer, parser,
                             [&ec](beast::error_code e2, size_t) { ec = e2; });
        });
        run(s.ioc);
        if (ec) {
            s.stream.reset();
            // A kept-alive connection the server had closed: retry once on a new one.
            if (!fresh && (ec == http::error::end_of_stream || ec == net::error::eof ||
                           ec == net::error::broken_pipe || ec == net::error::connection_reset))
                continue;
            if (ec == beast::error::timeout)
                throw ClientError("API request " + std::string(method) + " " + std::string(target) +
                                  " timed out");
            throw ClientError("API request " + std::string(method) + " " + std::string(target) +
                              " failed: " + ec.message());
        }
        auto res = parser.release();
        HttpResult out;
        out.status = static_cast<int>(res.result_int());
        out.content_type = std::string(res[http::field::content_type]);
        out.body = std::move(res.body());
        if (!res.keep_alive()) s.stream.reset();
        return out;
    }
    throw ClientError("API request failed: the server closed the connection");
}

} // namespace foldvm::api

#include "api_server.hpp"

#include "api_context.hpp"
#include "router.hpp"

#include "common/error.hpp"
#include "vmm/version.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace foldvm::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Local = net::local::stream_protocol;

namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
const std::string& busy_response() {
    static const std::string body =
        "{\"error\":\"too many open API connections\",\"field\":null}\n";
    static const std::string r =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    return r;
}

constexpr size_t kMaxLingerBytes = 16u << 20; // of a refused body, read and dropped

sockaddr_un make_address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty()) throw InvalidInput("the API socket path is empty");
    if (path.size() >= sizeof addr.sun_path)
        throw InvalidInput("API socket path '" + path + "' is too long (at most " +
                           std::to_string(sizeof addr.sun_path - 1) + " bytes)");
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

} // namespace

int bind_unix_socket(const std::string& path, int backlog) {
    sockaddr_un addr = make_address(path);
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            throw InvalidInput("'" + path + "' exists and is not a socket; not replacing it");
        int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0) throw_errno("socket(AF_UNIX)");
        int rc = ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        int err = errno;
        ::close(probe);
        if (rc == 0)
            throw InvalidInput("another server is already listening on '" + path +
                               "'; stop it or choose another --api-sock");
        if (err == ECONNREFUSED) {
            // Nobody listens: a socket file left behind by a process that died.
            if (::unlink(path.c_str()) != 0 && errno != ENOENT)
                throw_errno("removing stale socket '" + path + "'");
        } else if (err != ENOENT) {
            throw SystemError("probing existing socket '" + path + "'", err);
        }
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw_errno("socket(AF_UNIX)");
    mode_t old_mask = ::umask(0177); // the socket is born 0600
    int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    int err = errno;
    ::umask(old_mask);
    if (rc != 0) {
        ::close(fd);
        throw SystemError("binding API socket '" + path + "'", err);
    }
    if (::chmod(path.c_str(), 0600) != 0 || ::listen(fd, backlog) != 0) {
        err = errno;
        ::close(fd);
        ::unlink(path.c_str());
        throw SystemError("listening on API socket '" + path + "'", err);
    }
    return fd;
}

class Session;

struct ApiServer::Impl {
    // One event loop per io thread, each owning its connections outright (no
    // strands, no cross-thread wake-ups); the first also runs the acceptor
    // and the timers.
    struct Loop {
        net::io_context ioc{1};
        // Keeps run() going while a worker still owes a connection its response.
        net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
    };

    Impl(Host& host, DedupService& dedup, OvercommitService& overcommit, ApiServerOptions o)
        : options(std::move(o)), ctx(host, dedup, overcommit), router(ctx),
          loops(make_loops(options)), ioc(loops[0]->ioc),
          workers(std::max(1u, options.worker_threads)), acceptor(ioc), retry_timer(ioc),
          sweep_timer(ioc) {
        ctx.log = options.log;
        ctx.max_vms = options.max_vms;
    }

    static std::vector<std::unique_ptr<Loop>> make_loops(const ApiServerOptions& o) {
        unsigned n =
            o.io_threads ? o.io_threads : std::max(2u, std::thread::hardware_concurrency());
        std::vector<std::unique_ptr<Loop>> loops;
        for (unsigned i = 0; i < n; ++i)
            loops.push_back(std::make_unique<Loop>());
        return loops;
    }

    void accept();
    // Closes connections past their deadline. One coarse timer for all
    // connections keeps timer work off the per-request path.
    void sweep();
    void log(const std::string& msg) {
        if (options.log) options.log(msg);
    }

    ApiServerOptions options;
    ApiContext ctx;
    Router router;
    dev_t sock_dev = 0;
    ino_t sock_ino = 0;
    std::atomic<bool> stopped{false};
    std::atomic<int> requests_in_flight{0}; // read, not yet answered
    // Live connections, for the deadline sweep. Declared before the event
    // loops: sessions their queued handlers own unregister as they die.
    std::mutex sessions_mutex;
    std::list<std::weak_ptr<Session>> sessions;
    // Destroyed in reverse order: the event loops (and the sessions their
    // queued handlers own) go before the router and context they use.
    std::vector<std::unique_ptr<Loop>> loops;
    net::io_context& ioc; // loops[0]
    size_t next_loop = 0;
    net::thread_pool workers;
    Local::acceptor acceptor;
    net::steady_timer retry_timer;
    net::steady_timer sweep_timer;
    std::vector<std::thread> threads;
};

class Session : public std::enable_shared_from_this<Session> {
  public:
    Session(Local::socket socket, ApiServer::Impl& server)
        : socket_(std::move(socket)), server_(server) {
        server_.ctx.connections_open.fetch_add(1, std::memory_order_relaxed);
        server_.ctx.connections_total.fetch_add(1, std::memory_order_relaxed);
    }
    ~Session() {
        server_.ctx.connections_open.fetch_sub(1, std::memory_order_relaxed);
        if (registered_) {
            std::lock_guard lock(server_.sessions_mutex);
            server_.sessions.erase(self_it_);
        }
    }

    void start() {
        {
            std::lock_guard lock(server_.sessions_mutex);
            self_it_ = server_.sessions.insert(server_.sessions.end(), weak_from_this());
            registered_ = true;
        }
        net::dispatch(socket_.get_executor(),
                      beast::bind_front_handler(&Session::read_header, shared_from_this()));
    }

    // Called by the sweeper (any thread).
    bool expired(std::chrono::steady_clock::time_point now) const {
        int64_t d = deadline_ns_.load(std::memory_order_relaxed);
        return d != 0 && now.time_since_epoch().count() > d;
    }
    void expire() {
        net::post(socket_.get_executor(), [self = shared_from_this()] { self->close(); });
    }

  private:
    void set_deadline(std::chrono::steady_clock::duration d) {
        deadline_ns_.store((std::chrono::steady_clock::now() + d).time_since_epoch().count(),
                           std::memory_order_relaxed);
    }
    void clear_deadline() { deadline_ns_.store(0, std::memory_order_relaxed); }

    void read_header() {
        parser_.emplace();
        parser_->body_limit(kMaxBodyBytes);
        parser_->header_limit(kMaxHeaderBytes);
        set_deadline(server_.options.idle_timeout);
        http::async_read_header(socket_, buffer_, *parser_,
                                beast::bind_front_handler(&Session::on_header, shared_from_this()));
    }

    void on_header(beast::error_code ec, size_t) {
        if (ec) return on_read_error(ec);
        if (parser_->is_done()) return on_read({}, 0); // no body
        const auto& req = parser_->get();
        set_deadline(server_.options.request_timeout);
        if (beast::iequals(req[http::field::expect], "100-continue")) {
            net::async_write(socket_, net::buffer(kContinue.data(), kContinue.size()),
                             [self = shared_from_this()](beast::error_code wec, size_t) {
                                 if (wec) return self->close();
                                 self->read_body();
                             });
            return;
        }
        read_body();
    }

    void read_body() {
        http::async_read(socket_, buffer_, *parser_,
                         beast::bind_front_handler(&Session::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, size_t) {
        if (ec) return on_read_error(ec);
        clear_deadline(); // a handler may take long; the write sets a new one
        server_.requests_in_flight.fetch_add(1);
        req_ = parser_->release();
        request_.method =
            std::string_view(req_.method_string().data(), req_.method_string().size());
        request_.target = std::string_view(req_.target().data(), req_.target().size());
        auto ct = req_[http::field::content_type];
        request_.content_type = std::string_view(ct.data(), ct.size());
        request_.body = req_.body();
        head_ = req_.method() == http::verb::head;

        Router::Match match = server_.router.match(request_);
        if (match.route && match.route->options.blocking) {
            net::post(server_.workers, [self = shared_from_this(), match = std::move(match)] {
                ApiResponse response = self->server_.router.run(match, self->request_);
                net::post(self->socket_.get_executor(),
                          [self, response = std::move(response)]() mutable {
                              self->send(std::move(response), false);
                          });
            });
            return;
        }
        send(server_.router.run(match, request_), false);
    }

    void on_read_error(beast::error_code ec) {
        if (ec == http::error::end_of_stream || ec == net::error::eof ||
            ec == net::error::connection_reset || ec == net::error::operation_aborted ||
            ec == beast::error::timeout || ec == net::error::broken_pipe)
            return close();
        ApiResponse r;
        if (ec == http::error::body_limit)
            r = error_response(413, "request body is larger than " + std::to_string(kMaxBodyBytes) +
                                        " bytes");
        else if (ec == http::error::header_limit)
            r = error_response(431, "request line and headers are larger than " +
                                        std::to_string(kMaxHeaderBytes) + " bytes");
        else if (ec.category() == beast::error_code(http::error::bad_target).category() ||
                 ec == http::error::partial_message)
            r = error_response(400, "malformed HTTP request: " + ec.message());
        else
            return close();
        server_.router.count(r);
        server_.requests_in_flight.fetch_add(1);
        head_ = false;
        // The client may still be sending the body it was refused: read and
        // drop some of it after the answer so that the answer reaches it.
        linger_ = ec == http::error::body_limit;
        send(std::move(r), true);
    }

    void send(ApiResponse r, bool close_after) {
        res_ = {};
        res_.result(static_cast<unsigned>(r.status));
        res_.version(close_after ? 11 : req_.version());
        res_.set(http::field::server, server_header());
        if (!r.content_type.empty()) res_.set(http::field::content_type, r.content_type);
        for (auto& [k, v] : r.headers)
            res_.set(k, v);
        res_.body() = std::move(r.body);
        if (r.status == 204)
            res_.body().clear(); // no body and no Content-Length
        else
            res_.prepare_payload();
        if (head_) {
            // A response to HEAD has no body; its length would confuse the client.
            res_.body().clear();
            close_after = true;
        }
        res_.keep_alive(!close_after && req_.keep_alive());
        set_deadline(server_.options.request_timeout);
        http::async_write(socket_, res_,
                          beast::bind_front_handler(&Session::on_write, shared_from_this()));
    }

    void on_write(beast::error_code ec, size_t) {
        server_.requests_in_flight.fetch_sub(1);
        if (!ec && linger_) return linger();
        if (ec || !res_.keep_alive()) return close();
        read_header();
    }

    void linger() {
        beast::error_code ec;
        socket_.shutdown(Local::socket::shutdown_send, ec);
        set_deadline(std::chrono::seconds(2));
        discard_.resize(64 << 10);
        socket_.async_read_some(net::buffer(discard_),
                                [self = shared_from_this()](beast::error_code rec, size_t n) {
                                    self->lingered_ += n;
                                    if (rec || self->lingered_ > kMaxLingerBytes)
                                        return self->close();
                                    self->linger();
                                });
    }

    void close() {
        clear_deadline();
        beast::error_code ec;
        socket_.shutdown(Local::socket::shutdown_both, ec);
        socket_.close(ec);
    }

    static const std::string& server_header() {
        static const std::string s = std::string("foldvm/") + kVersion;
        return s;
    }

    Local::socket socket_; // bound to one single-threaded event loop
    ApiServer::Impl& server_;
    std::atomic<int64_t> deadline_ns_{0}; // steady clock; 0 = none
    std::list<std::weak_ptr<Session>>::iterator self_it_;
    bool registered_ = false;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http::request<http::string_body> req_;
    ApiRequest request_;
    bool head_ = false;
    bool linger_ = false;
    size_t lingered_ = 0;
    std::vector<char> discard_;
    http::response<http::string_body> res_;
};

void ApiServer::Impl::sweep() {
    sweep_timer.expires_after(std::chrono::milliseconds(500));
    sweep_timer.async_wait([this](beast::error_code ec) {
        if (ec) return;
        auto now = std::chrono::steady_clock::now();
        std::vector<std::shared_ptr<Session>> late;
        {
            std::lock_guard lock(sessions_mutex);
            for (auto& w : sessions)
                if (auto s = w.lock(); s && s->expired(now)) late.push_back(std::move(s));
        }
        for (auto& s : late)
            s->expire();
        sweep();
    });
}

void ApiServer::Impl::accept() {
    net::io_context& target = loops[next_loop++ % loops.size()]->ioc;
    acceptor.async_accept(target, [this](beast::error_code ec, Local::socket sock) {
        if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
        if (ec) {
            // EMFILE and friends: back off instead of spinning.
            log("API accept failed: " + ec.message());
            retry_timer.expires_after(std::chrono::milliseconds(100));
            retry_timer.async_wait([this](beast::error_code) { accept(); });
            return;
        }
        if (ctx.connections_open.load(std::memory_order_relaxed) >= options.max_connections) {
            ctx.connections_rejected.fetch_add(1, std::memory_order_relaxed);
            beast::error_code wec;
            sock.non_blocking(true, wec);
            net::write(sock, net::buffer(busy_response()), wec);
            sock.close(wec);
        } else {
            std::make_shared<Session>(std::move(sock), *this)->start();
        }
        accept();
    });
}

ApiServer::ApiServer(Host& host, DedupService& dedup, OvercommitService& overcommit,
                     ApiServerOptions options)
    : impl_(std::make_unique<Impl>(host, dedup, overcommit, std::move(options))) {
    Impl& s = *impl_;
    int fd = bind_unix_socket(s.options.socket_path, 1024);
    struct stat st {};
    if (::stat(s.options.socket_path.c_str(), &st) == 0) {
        s.sock_dev = st.st_dev;
        s.sock_ino = st.st_ino;
    }
    beast::error_code ec;
    s.acceptor.assign(Local(), fd, ec);
    if (ec) {
        ::close(fd);
        ::unlink(s.options.socket_path.c_str());
        throw std::runtime_error("API socket: " + ec.message());
    }
    s.accept();
    s.sweep();
    for (auto& loop : s.loops)
        s.threads.emplace_back([&ioc = loop->ioc] { ioc.run(); });
}

ApiServer::~ApiServer() {
    stop();
}

void ApiServer::stop() {
    Impl& s = *impl_;
    if (s.stopped.exchange(true)) return;
    // Graceful part: no new connections, let running handlers finish and
    // their responses go out (bounded), then drop every connection.
    std::promise<void> closed;
    net::post(s.ioc, [&s, &closed] {
        beast::error_code ec;
        s.acceptor.close(ec);
        s.retry_timer.cancel();
        s.sweep_timer.cancel();
        closed.set_value();
    });
    closed.get_future().wait_for(std::chrono::seconds(2));
    s.workers.join();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (s.requests_in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    for (auto& loop : s.loops) {
        loop->work.reset();
        loop->ioc.stop();
    }
    for (auto& t : s.threads)
        t.join();
    beast::error_code ec;
    s.acceptor.close(ec);
    // Remove the socket file only if it is still ours.
    struct stat st {};
    if (::stat(s.options.socket_path.c_str(), &st) == 0 && st.st_dev == s.sock_dev &&
        st.st_ino == s.sock_ino)
        ::unlink(s.options.socket_path.c_str());
}

const std::string& ApiServer::socket_path() const {
    return impl_->options.socket_path;
}

} // namespace foldvm::api

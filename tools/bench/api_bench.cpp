// foldvm-bench api: latency and throughput of the REST control socket, and
// how fast a PATCH /dedup shows in the engine's behaviour. Starts its own
// `foldvm serve` (or uses --sock), prints one JSON object.
//
//   GET /dedup from --clients keep-alive connections (default 64), each
//   sending its next request when the previous answer is complete (closed
//   loop), driven by one epoll thread; answers parsed with Beast.
//   PATCH visibility: with sleep_millisecs=S, run=0 must stop full scans and
//   run=1 restart them within one interval S.
#include "vmm/api/client.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace foldvm::bench {

namespace {

namespace fs = std::filesystem;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Options {
    int clients = 64;
    double duration_s = 5;
    double warmup_s = 1;
    int vms = 1;
    int sleep_ms = 100; // scan interval for the PATCH visibility test
    int trials = 5;
    unsigned api_threads = 0;
    std::string sock, foldvm, kernel;
    std::string path = "/dedup"; // the endpoint under load
};

[[noreturn]] void usage_error(const std::string& msg) {
    throw std::invalid_argument(msg +
                                "\nusage: foldvm-bench api [--clients N] [--duration S] "
                                "[--warmup S] [--vms N] [--sleep-ms MS] [--trials N] "
                                "[--api-threads N] [--path /dedup] [--sock PATH] [--foldvm PATH] "
                                "[--kernel ELF]");
}

Options parse(int argc, char** argv) {
    Options o;
    fs::path self = fs::read_symlink("/proc/self/exe").parent_path();
    o.foldvm = (self / "foldvm").string();
    o.kernel = (self / "guest-kernels" / "memfill.elf").string();
    for (int i = 0; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage_error(a + " needs a value");
            return argv[++i];
        };
        if (a == "--clients")
            o.clients = std::stoi(value());
        else if (a == "--duration")
            o.duration_s = std::stod(value());
        else if (a == "--warmup")
            o.warmup_s = std::stod(value());
        else if (a == "--vms")
            o.vms = std::stoi(value());
        else if (a == "--sleep-ms")
            o.sleep_ms = std::stoi(value());
        else if (a == "--trials")
            o.trials = std::stoi(value());
        else if (a == "--api-threads")
            o.api_threads = static_cast<unsigned>(std::stoul(value()));
        else if (a == "--sock")
            o.sock = value();
        else if (a == "--path")
            o.path = value();
        else if (a == "--foldvm")
            o.foldvm = value();
        else if (a == "--kernel")
            o.kernel = fs::absolute(value()).string();
        else
            usage_error("unknown option " + a);
    }
    if (o.clients < 1 || o.clients > 4096) usage_error("--clients must be in [1, 4096]");
    if (o.duration_s <= 0 || o.warmup_s < 0) usage_error("--duration must be > 0");
    if (o.sleep_ms < 5) usage_error("--sleep-ms must be >= 5");
    return o;
}

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double pct(std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    size_t k = static_cast<size_t>(p / 100.0 * double(sorted.size() - 1) + 0.5);
    return sorted[std::min(k, sorted.size() - 1)];
}

// `foldvm serve` in a private directory, stopped with SIGTERM at the end.
class Daemon {
  public:
    Daemon(const Options& o) {
        char tmpl[] = "/tmp/foldvm-api-bench-XXXXXX";
        if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
        dir_ = tmpl;
        sock_ = dir_ + "/api.sock";
        std::string log = dir_ + "/serve.log";
        std::vector<std::string> args = {o.foldvm, "serve",       "--api-sock",
                                         sock_,    "--dedup-opt", "sleep_millisecs=20"};
        if (o.api_threads) {
            args.push_back("--api-threads");
            args.push_back(std::to_string(o.api_threads));
        }
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        int rc = posix_spawn(&pid_, o.foldvm.c_str(), &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc != 0)
            throw std::runtime_error("cannot start " + o.foldvm + ": " + std::strerror(rc));
        auto t0 = Clock::now();
        for (;;) {
            try {
                api::UnixHttpClient c(sock_, std::chrono::seconds(2));
                if (c.request("GET", "/healthz").status == 200) break;
            } catch (const api::ClientError&) {
            }
            int status;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("foldvm serve exited; see " + log);
            }
            if (ms_since(t0) > 15000) throw std::runtime_error("foldvm serve did not come up");
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    ~Daemon() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status;
            ::waitpid(pid_, &status, 0);
        }
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    const std::string& sock() const { return sock_; }

  private:
    std::string dir_, sock_;
    pid_t pid_ = -1;
};

json call(api::UnixHttpClient& c, const std::string& method, const std::string& target,
          const json& body = nullptr) {
    auto r = c.request(method, target, body.is_null() ? "" : body.dump());
    if (r.status < 200 || r.status >= 300)
        throw std::runtime_error(method + " " + target + " -> " + std::to_string(r.status) + ": " +
                                 r.body);
    return r.body.empty() ? json() : json::parse(r.body);
}

uint64_t full_scans(api::UnixHttpClient& c) {
    return call(c, "GET", "/dedup")["stats"]["full_scans"].get<uint64_t>();
}

int connect_unix(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        throw std::runtime_error("connect " + path + ": " + std::strerror(errno));
    return fd;
}

struct LoadResult {
    uint64_t requests = 0, errors = 0;
    double seconds = 0;
    std::vector<double> latency_ms;
};

// Closed-loop load: every connection always has one request outstanding.
LoadResult run_load(const std::string& sock, const std::string& path, int clients, double warmup_s,
                    double duration_s) {
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
    struct Conn {
        int fd;
        Clock::time_point sent;
        std::optional<http::response_parser<http::string_body>> parser;
        std::string pending;
    };
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    std::vector<Conn> conns(static_cast<size_t>(clients));
    auto send_one = [&](Conn& c) {
        c.parser.emplace();
        c.parser->eager(true);
        c.parser->body_limit(64u << 20);
        c.sent = Clock::now();
        ssize_t n = ::send(c.fd, request.data(), request.size(), MSG_NOSIGNAL);
        if (n != static_cast<ssize_t>(request.size())) throw std::runtime_error("short send");
    };
    for (size_t i = 0; i < conns.size(); ++i) {
        conns[i].fd = connect_unix(sock);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
    }
    LoadResult res;
    res.latency_ms.reserve(1 << 20);
    auto start = Clock::now();
    auto measure_from = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(warmup_s));
    auto end = measure_from + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(duration_s));
    for (auto& c : conns)
        send_one(c);
    std::vector<epoll_event> events(conns.size());
    char buf[65536];
    bool measuring = false;
    while (true) {
        auto now = Clock::now();
        if (now >= end) break;
        if (!measuring && now >= measure_from) measuring = true;
        int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
        for (int e = 0; e < n; ++e) {
            Conn& c = conns[events[e].data.u64];
            ssize_t got = ::recv(c.fd, buf, sizeof buf, 0);
            if (got <= 0) {
                if (got < 0 && errno == EAGAIN) continue;
                throw std::runtime_error("server closed a benchmark connection");
            }
            c.pending.append(buf, static_cast<size_t>(got));
            boost::beast::error_code ec;
            size_t used = c.parser->put(boost::asio::buffer(c.pending), ec);
            if (ec == http::error::need_more) ec = {};
            if (ec) throw std::runtime_error("bad response: " + ec.message());
            c.pending.erase(0, used);
            if (!c.parser->is_done()) continue;
            Clock::time_point done = Clock::now();
            bool ok = c.parser->get().result_int() == 200;
            if (measuring && c.sent >= measure_from) {
                ++res.requests;
                res.errors += !ok;
                res.latency_ms.push_back(
                    std::chrono::duration<double, std::milli>(done - c.sent).count());
            }
            send_one(c);
        }
    }
    res.seconds = duration_s;
    for (auto& c : conns)
        ::close(c.fd);
    ::close(ep);
    return res;
}

struct Visibility {
    std::vector<double> stop_ms;  // PATCH sent -> last full scan (0 if none after sending)
    std::vector<double> rtt_ms;   // PATCH round trip
    std::vector<double> start_ms; // PATCH run=1 sent -> first new full scan
    uint64_t scans_after_stop_returned = 0;
};

Visibility measure_visibility(api::UnixHttpClient& c, const Options& o) {
    Visibility v;
    call(c, "PATCH", "/dedup",
         {{"run", 1}, {"sleep_millisecs", o.sleep_ms}, {"pages_to_scan", 1000000}});
    for (int t = 0; t < o.trials; ++t) {
        // Steady scanning first: wait for two fresh passes.
        uint64_t f = full_scans(c);
        auto t0 = Clock::now();
        while (full_scans(c) < f + 2 && ms_since(t0) < 20.0 * o.sleep_ms)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));

        uint64_t before = full_scans(c);
        auto sent = Clock::now();
        call(c, "PATCH", "/dedup", {{"run", 0}});
        double rtt = ms_since(sent);
        uint64_t at_return = full_scans(c);
        double last_change = 0;
        uint64_t last = before;
        // Watch three intervals for scans that still happen.
        while (ms_since(sent) < 3.0 * o.sleep_ms) {
            uint64_t now = full_scans(c);
            if (now != last) {
                last = now;
                last_change = ms_since(sent);
            }
            std::this_thread::sleep_for(std::chrono::microseconds(500));
        }
        v.scans_after_stop_returned += last - at_return;
        v.stop_ms.push_back(std::max(rtt, last_change));
        v.rtt_ms.push_back(rtt);

        uint64_t stopped = full_scans(c);
        sent = Clock::now();
        call(c, "PATCH", "/dedup", {{"run", 1}});
        double started = -1;
        while (ms_since(sent) < 10.0 * o.sleep_ms) {
            if (full_scans(c) > stopped) {
                started = ms_since(sent);
                break;
            }
        }
        v.start_ms.push_back(started < 0 ? 10.0 * o.sleep_ms : started);
    }
    return v;
}

json summary(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return {{"max", v.empty() ? 0 : v.back()}, {"median", pct(v, 50)}};
}

} // namespace

int run_api_bench(int argc, char** argv) {
    Options o = parse(argc, argv);
    std::optional<Daemon> daemon;
    std::string sock = o.sock;
    if (sock.empty()) {
        daemon.emplace(o);
        sock = daemon->sock();
    }
    api::UnixHttpClient c(sock);
    json initial_config = call(c, "GET", "/dedup")["config"];
    std::vector<uint64_t> vm_ids;
    for (int i = 0; i < o.vms; ++i)
        vm_ids.push_back(
            call(
                c, "POST", "/vms",
                {{"kernel", o.kernel}, {"mem_mib", 32}, {"cmdline", "shared=0.75 zero=0.05"}})["id"]
                .get<uint64_t>());
    // Let the guests fill and the engine settle into steady scanning.
    auto t0 = Clock::now();
    while (!vm_ids.empty() && ms_since(t0) < 10000 &&
           call(c, "GET", "/dedup")["stats"]["pages_sharing"].get<uint64_t>() == 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));

    LoadResult load = run_load(sock, o.path, o.clients, o.warmup_s, o.duration_s);
    std::sort(load.latency_ms.begin(), load.latency_ms.end());
    double mean = 0;
    for (double x : load.latency_ms)
        mean += x;
    if (!load.latency_ms.empty()) mean /= double(load.latency_ms.size());
    double rps = double(load.requests) / load.seconds;
    double p99 = pct(load.latency_ms, 99);

    Visibility vis = measure_visibility(c, o);
    double worst_stop = *std::max_element(vis.stop_ms.begin(), vis.stop_ms.end());
    double worst_start = *std::max_element(vis.start_ms.begin(), vis.start_ms.end());
    bool within =
        worst_stop <= o.sleep_ms && worst_start <= o.sleep_ms && vis.scans_after_stop_returned == 0;

    // Leave an existing daemon as we found it.
    if (!o.sock.empty()) {
        call(c, "PATCH", "/dedup", initial_config);
        for (uint64_t id : vm_ids)
            c.request("DELETE", "/vms/" + std::to_string(id));
    }

    json out = {
        {"bench", "api"},
        {"endpoint", "GET " + o.path},
        {"clients", o.clients},
        {"vms", o.vms},
        {"duration_s", o.duration_s},
        {"requests", load.requests},
        {"errors", load.errors},
        {"requests_per_s", rps},
        {"latency_ms",
         {{"p50", pct(load.latency_ms, 50)},
          {"p90", pct(load.latency_ms, 90)},
          {"p99", p99},
          {"p999", pct(load.latency_ms, 99.9)},
          {"max", load.latency_ms.empty() ? 0 : load.latency_ms.back()},
          {"mean", mean}}},
        {"patch_visibility",
         {{"sleep_millisecs", o.sleep_ms},
          {"trials", o.trials},
          {"run0_stop_ms", summary(vis.stop_ms)},
          {"run0_patch_rtt_ms", summary(vis.rtt_ms)},
          {"run0_scans_after_patch_returned", vis.scans_after_stop_returned},
          {"run1_first_scan_ms", summary(vis.start_ms)},
          {"within_one_interval", within}}},
        {"targets", {{"p99_ms", 2.0}, {"requests_per_s", 20000}}},
        {"meets_targets",
         {{"p99", p99 <= 2.0}, {"requests_per_s", rps >= 20000}, {"patch_visibility", within}}},
    };
    std::cout << out.dump(2) << "\n";
    return load.errors ? 1 : 0;
}

} // namespace foldvm::bench

#include "serve_command.hpp"

#include "common/error.hpp"
#include "vmm/api/api_server.hpp"
#include "vmm/config/dedup_knobs.hpp"
#include "vmm/machine/host.hpp"
#include "vmm/sharing/dedup_service.hpp"

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <mutex>

namespace foldvm::cli {

namespace {

std::mutex g_log_mutex;

void log_line(const std::string& msg) {
    std::lock_guard lock(g_log_mutex);
    std::fprintf(stderr, "foldvm: %s\n", msg.c_str());
}

} // namespace

void add_serve_command(CLI::App& app, ServeOptions& o, int& result) {
    auto* serve = app.add_subcommand(
        "serve", "Run as a daemon: create and manage VMs through the REST API socket");
    serve->add_option("--api-sock", o.api_sock, "Unix socket of the REST API (mode 0600)")
        ->required();
    serve->add_option("--dedup", o.dedup_mode, "Page sharing: builtin, ksm (host KSM) or off")
        ->check(CLI::IsMember(dedup_mode_names()))
        ->capture_default_str();
    serve->add_option("--dedup-opt", o.dedup_opts, "Dedup knob KEY=VALUE (repeatable)");
    serve
        ->add_option("--api-threads", o.api_threads,
                     "Threads serving API connections (0 = one per CPU, at least 2)")
        ->check(CLI::Range(0u, 256u))
        ->capture_default_str();
    serve->add_option("--max-vms", o.max_vms, "Most VMs at once; POST /vms answers 409 beyond")
        ->check(CLI::Range(size_t{1}, size_t{1} << 20))
        ->capture_default_str();
    add_overcommit_options(*serve, o.overcommit);
    serve->callback([&o, &result] { result = serve_command(o); });
}

int serve_command(const ServeOptions& o) {
    DedupMode mode = parse_dedup_mode(o.dedup_mode);
    dedup::DedupConfig dedup_config = dedup_config_from_options(o.dedup_opts);
    OvercommitConfig overcommit_config = cli::overcommit_config(o.overcommit);

    // Every thread started from here on inherits the blocked set; only this
    // thread takes SIGINT and SIGTERM, through sigwait().
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    if (int err = ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr))
        throw SystemError("pthread_sigmask", err);
    ::signal(SIGPIPE, SIG_IGN);

    Host host;
    DedupService sharing(host, mode, dedup_config);
    OvercommitService overcommit(host, sharing, overcommit_config, log_line);
    OvercommitRegistration registration(host, overcommit); // after dedup's
    api::ApiServerOptions api_options;
    api_options.socket_path = o.api_sock;
    api_options.io_threads = o.api_threads;
    api_options.max_vms = o.max_vms;
    api_options.log = log_line;
    api::ApiServer server(host, sharing, overcommit, api_options);
    log_line("serving the API on " + o.api_sock + " (dedup " + to_string(mode) + ", overcommit " +
             overcommit_summary(overcommit) + ")");

    int sig = 0;
    if (int err = ::sigwait(&stop_signals, &sig)) throw SystemError("sigwait", err);
    log_line(std::string(sig == SIGTERM ? "SIGTERM" : "SIGINT") +
             " received: stopping VMs and removing " + o.api_sock);
    server.stop(); // no request runs past this point
    host.stop_all();
    size_t stopped = 0;
    for (auto& [id, vm] : host.vms())
        stopped += host.remove_vm(id);
    log_line("stopped " + std::to_string(stopped) + " VM(s)");
    return 0;
}

} // namespace foldvm::cli

#include "restore_registry.hpp"

#include <signal.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>

namespace foldvm::bench {

namespace {

struct Action {
    std::string what;
    std::function<void()> undo;
};

std::mutex g_mutex;
std::map<RestoreRegistry::Id, Action>& actions() {
    static auto* a = new std::map<RestoreRegistry::Id, Action>; // outlives atexit handlers
    return *a;
}
RestoreRegistry::Id g_next = 1;

void run_action(Action& a) noexcept {
    try {
        a.undo();
    } catch (const std::exception& e) {
        std::cerr << "foldvm-bench: restoring " << a.what << " failed: " << e.what() << "\n";
    } catch (...) {
        std::cerr << "foldvm-bench: restoring " << a.what << " failed\n";
    }
}

// Takes the next action out under the lock (a signal handler that finds the
// lock held by the interrupted thread goes ahead without it: restoring the
// machine matters more than the map's consistency in a dying process).
bool pop_newest(Action& out, bool from_signal) {
    std::unique_lock lock(g_mutex, std::defer_lock);
    if (!from_signal)
        lock.lock();
    else
        (void)lock.try_lock();
    auto& a = actions();
    if (a.empty()) return false;
    auto it = std::prev(a.end());
    out = std::move(it->second);
    a.erase(it);
    return true;
}

void drain(bool from_signal) noexcept {
    Action a;
    while (pop_newest(a, from_signal))
        run_action(a);
}

void on_signal(int sig) {
    drain(true);
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

// The exit hook once; the signal handlers again whenever someone replaced
// them (a test framework's crash handler, a forked child's inherited ones).
void install_hooks() {
    static std::once_flag once;
    std::call_once(once, [] { std::atexit([] { drain(false); }); });
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
        struct sigaction now {};
        if (::sigaction(sig, nullptr, &now) == 0 && now.sa_handler == on_signal) continue;
        ::signal(sig, on_signal);
    }
}

} // namespace

RestoreRegistry::Id RestoreRegistry::add(std::string what, std::function<void()> undo) {
    install_hooks();
    std::lock_guard lock(g_mutex);
    Id id = g_next++;
    actions()[id] = Action{std::move(what), std::move(undo)};
    return id;
}

void RestoreRegistry::run(Id id) {
    Action a;
    {
        std::lock_guard lock(g_mutex);
        auto it = actions().find(id);
        if (it == actions().end()) return;
        a = std::move(it->second);
        actions().erase(it);
    }
    run_action(a);
}

void RestoreRegistry::run_all() noexcept {
    drain(false);
}

size_t RestoreRegistry::pending() {
    std::lock_guard lock(g_mutex);
    return actions().size();
}

} // namespace foldvm::bench

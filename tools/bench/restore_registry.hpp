// Undo actions for machine-wide settings a benchmark changes (KSM and zswap
// knobs, a swap file, memory cgroups, child processes). Each runs exactly
// once, newest first: when its owner restores (RAII, also while an exception
// unwinds), at exit, or on SIGINT/SIGTERM/SIGHUP before the signal's default
// action. A benchmark must never leave the machine changed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace foldvm::bench {

class RestoreRegistry {
  public:
    using Id = uint64_t;
    // `what` names the action in the warning printed if it throws.
    static Id add(std::string what, std::function<void()> undo);
    // Runs one action now (if it has not run) and forgets it.
    static void run(Id id);
    // Every pending action, newest first; what the exit and signal paths call.
    static void run_all() noexcept;
    static size_t pending();
};

// Owns one registered action: restore() or the destructor runs it once.
class Restorer {
  public:
    Restorer() = default;
    Restorer(std::string what, std::function<void()> undo)
        : id_(RestoreRegistry::add(std::move(what), std::move(undo))) {}
    Restorer(Restorer&& other) noexcept : id_(other.id_) { other.id_ = 0; }
    Restorer& operator=(Restorer&& other) noexcept {
        if (this != &other) {
            restore();
            id_ = other.id_;
            other.id_ = 0;
        }
        return *this;
    }
    Restorer(const Restorer&) = delete;
    Restorer& operator=(const Restorer&) = delete;
    ~Restorer() { restore(); }
    void restore() {
        if (id_) RestoreRegistry::run(id_);
        id_ = 0;
    }
    bool armed() const { return id_ != 0; }

  private:
    RestoreRegistry::Id id_ = 0;
};

} // namespace foldvm::bench

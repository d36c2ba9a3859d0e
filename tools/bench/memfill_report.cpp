#include "memfill_report.hpp"

#include <atomic>
#include <sstream>

namespace foldvm::bench {

namespace {

constexpr unsigned kSubBits = 3, kSub = 1u << kSubBits;

// Largest value of bucket b, as memfill_hist.h's hist_upper.
uint64_t bucket_upper(unsigned b) {
    if (b < kSub) return b;
    unsigned e = b / kSub + kSubBits - 1, sub = b % kSub;
    uint64_t lo = (1ull << e) + (uint64_t(sub) << (e - kSubBits));
    return lo + (1ull << (e - kSubBits)) - 1;
}

} // namespace

std::optional<uint64_t> line_field(const std::string& line, const std::string& key) {
    auto pos = line.find(" " + key + "=");
    if (pos == std::string::npos) return std::nullopt;
    try {
        return std::stoull(line.substr(pos + key.size() + 2), nullptr, 0);
    } catch (...) {
        return std::nullopt;
    }
}

std::optional<double> line_field_double(const std::string& line, const std::string& key) {
    auto pos = line.find(" " + key + "=");
    if (pos == std::string::npos) return std::nullopt;
    try {
        return std::stod(line.substr(pos + key.size() + 2));
    } catch (...) {
        return std::nullopt;
    }
}

void send_mailbox(Vm& vm, uint64_t gpa, uint64_t req, MailboxCmd cmd) {
    uint64_t c = uint64_t(cmd);
    vm.memory().write(gpa + 8, &c, sizeof c);
    std::atomic_thread_fence(std::memory_order_release);
    vm.memory().write(gpa, &req, sizeof req);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
    for (auto& [b, c] : other.buckets)
        buckets[b] += c;
    n += other.n;
    max_ns = std::max(max_ns, other.max_ns);
}

uint64_t LatencyHistogram::percentile_ns(double p) const {
    if (n == 0) return 0;
    uint64_t rank = uint64_t(double(n - 1) * p / 100.0) + 1, seen = 0;
    for (auto& [b, c] : buckets) {
        seen += c;
        if (seen >= rank) return std::min(bucket_upper(b), max_ns);
    }
    return max_ns;
}

HotSummary read_hot_summary(const TimedConsole& console, uint64_t vm) {
    HotSummary s;
    auto lines = console.all(vm, "memfill: ");
    size_t at = lines.size();
    for (size_t i = 0; i < lines.size(); ++i)
        if (lines[i].rfind("memfill: hot total ", 0) == 0) at = i;
    if (at == lines.size()) return s;
    const std::string& t = lines[at];
    s.found = true;
    s.ops = line_field(t, "ops").value_or(0);
    s.elapsed_ms = line_field(t, "elapsed_ms").value_or(0);
    s.ops_per_s = line_field(t, "ops_per_s").value_or(0);
    s.p50_ns = line_field(t, "lat_p50_ns").value_or(0);
    s.p99_ns = line_field(t, "lat_p99_ns").value_or(0);
    s.max_ns = line_field(t, "lat_max_ns").value_or(0);
    s.cold_ops = line_field(t, "cold_ops").value_or(0);
    s.mismatches = line_field(t, "mismatches").value_or(0);
    s.hist.max_ns = s.max_ns;
    for (size_t i = at + 1; i < lines.size() && lines[i].rfind("memfill: hist", 0) == 0; ++i) {
        std::istringstream in(lines[i].substr(13));
        std::string tok;
        while (in >> tok) {
            auto colon = tok.find(':');
            if (colon == std::string::npos) continue;
            uint64_t c = std::stoull(tok.substr(colon + 1));
            s.hist.buckets[unsigned(std::stoul(tok.substr(0, colon)))] += c;
            s.hist.n += c;
        }
    }
    return s;
}

} // namespace foldvm::bench

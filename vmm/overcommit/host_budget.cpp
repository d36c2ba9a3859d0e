#include "host_budget.hpp"

#include "common/procfs.hpp"

#include <fstream>
#include <sstream>

namespace foldvm::overcommit {

namespace {

double memory_pressure_some_avg10() {
    std::ifstream in("/proc/pressure/memory");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("some", 0) != 0) continue;
        auto pos = line.find("avg10=");
        if (pos != std::string::npos) return std::stod(line.substr(pos + 6));
    }
    return 0;
}

} // namespace

DerivedBudget derive_budget() {
    uint64_t available = procfs::meminfo_bytes("MemAvailable");
    double pressure = memory_pressure_some_avg10();
    double share = pressure >= 5.0 ? 0.75 : 0.90;
    DerivedBudget b;
    b.bytes = static_cast<uint64_t>(static_cast<double>(available) * share);
    std::ostringstream why;
    why << static_cast<int>(share * 100) << "% of MemAvailable " << (available >> 20)
        << " MiB (memory PSI some avg10 " << pressure << "%)";
    b.why = why.str();
    return b;
}

} // namespace foldvm::overcommit

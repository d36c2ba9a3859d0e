#include "host_budget.hpp"

#include <fstream>
#include <sstream>

namespace foldvm::overcommit {

namespace {

uint64_t mem_available_bytes() {
    std::ifstream in("/proc/meminfo");
    std::string key;
    uint64_t kib = 0;
    std::string unit;
    while (in >> key >> kib >> unit)
        if (key == "MemAvailable:") return kib << 10;
    return 0;
}

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
    uint64_t available = mem_available_bytes();
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

#include "proc_stats.hpp"

#include <dirent.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace foldvm::bench {

namespace {

// utime + stime from a /proc/.../stat file (fields 14 and 15).
double stat_cpu_seconds(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    if (!std::getline(in, line)) return -1;
    auto paren = line.rfind(')');
    if (paren == std::string::npos) return -1;
    std::istringstream fields(line.substr(paren + 2));
    std::string f;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> f; ++i) {
        if (i == 14) utime = std::stoull(f);
        if (i == 15) stime = std::stoull(f);
    }
    return double(utime + stime) / double(::sysconf(_SC_CLK_TCK));
}

std::vector<std::string> numeric_entries(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return out;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos)
            out.push_back(name);
    }
    ::closedir(d);
    return out;
}

std::string comm_of(const std::string& dir) {
    std::ifstream in(dir + "/comm");
    std::string name;
    std::getline(in, name);
    return name;
}

} // namespace

double pid_cpu_seconds(pid_t pid) {
    return stat_cpu_seconds("/proc/" + std::to_string(pid) + "/stat");
}

double thread_cpu_seconds(pid_t tid) {
    return stat_cpu_seconds("/proc/self/task/" + std::to_string(tid) + "/stat");
}

std::vector<std::pair<pid_t, std::string>> own_threads() {
    std::vector<std::pair<pid_t, std::string>> out;
    for (auto& tid : numeric_entries("/proc/self/task"))
        out.emplace_back(std::stoi(tid), comm_of("/proc/self/task/" + tid));
    return out;
}

double kernel_threads_cpu_seconds(const std::string& prefix) {
    double sum = -1;
    for (auto& pid : numeric_entries("/proc")) {
        if (comm_of("/proc/" + pid).rfind(prefix, 0) != 0) continue;
        // Kernel threads have no executable; skip user processes that
        // happen to share the name.
        char buf[8];
        if (::readlink(("/proc/" + pid + "/exe").c_str(), buf, sizeof buf) >= 0) continue;
        double s = stat_cpu_seconds("/proc/" + pid + "/stat");
        if (s >= 0) sum = (sum < 0 ? 0 : sum) + s;
    }
    return sum;
}

std::map<std::string, uint64_t> vmstat() {
    std::map<std::string, uint64_t> out;
    std::ifstream in("/proc/vmstat");
    std::string k;
    uint64_t v;
    while (in >> k >> v)
        out[k] = v;
    return out;
}

uint64_t swap_used_bytes(const std::string& path) {
    std::ifstream in("/proc/swaps");
    std::string line;
    std::getline(in, line); // header
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::string name, type;
        uint64_t size_kib = 0, used_kib = 0;
        f >> name >> type >> size_kib >> used_kib;
        if (name == path) return used_kib * 1024;
    }
    return 0;
}

} // namespace foldvm::bench

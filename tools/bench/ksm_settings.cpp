#include "ksm_settings.hpp"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace foldvm::bench {

namespace {

const char* kDir = "/sys/kernel/mm/ksm/";
KsmSettings* g_active = nullptr;

std::string read_text(const std::string& knob) {
    std::ifstream in(kDir + knob);
    std::string v;
    in >> v;
    return v;
}

void write_text(const std::string& knob, const std::string& value) {
    std::ofstream out(kDir + knob);
    out << value;
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + std::string(kDir) + knob + " (need root)");
}

void on_signal(int sig) {
    if (g_active) g_active->restore();
    ::signal(sig, SIG_DFL);
    ::raise(sig);
}

} // namespace

bool KsmSettings::available() {
    return ::access("/sys/kernel/mm/ksm/run", W_OK) == 0;
}

KsmSettings::KsmSettings() {
    if (!available()) throw std::runtime_error("KSM is not available or not writable here");
    g_active = this;
    ::signal(SIGINT, on_signal);
    ::signal(SIGTERM, on_signal);
    std::atexit([] {
        if (g_active) g_active->restore();
    });
}

KsmSettings::~KsmSettings() {
    restore();
    g_active = nullptr;
}

void KsmSettings::set(const std::string& knob, int64_t value) {
    if (!saved_.count(knob)) saved_[knob] = read_text(knob);
    write_text(knob, std::to_string(value));
}

int64_t KsmSettings::read(const std::string& knob) {
    std::string v = read_text(knob);
    return v.empty() ? -1 : std::stoll(v);
}

void KsmSettings::restore() {
    // run first, so ksmd stops before the pacing knobs change back.
    if (saved_.count("run")) {
        try {
            write_text("run", saved_["run"]);
        } catch (...) {
        }
    }
    for (auto& [knob, value] : saved_) {
        try {
            write_text(knob, value);
        } catch (...) {
        }
    }
    saved_.clear();
}

double ksmd_cpu_seconds() {
    DIR* proc = ::opendir("/proc");
    if (!proc) return -1;
    double result = -1;
    while (dirent* e = ::readdir(proc)) {
        std::string pid = e->d_name;
        if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream comm("/proc/" + pid + "/comm");
        std::string name;
        comm >> name;
        if (name != "ksmd") continue;
        std::ifstream stat("/proc/" + pid + "/stat");
        std::string line;
        std::getline(stat, line);
        std::istringstream fields(line.substr(line.rfind(')') + 2));
        std::string f;
        unsigned long long utime = 0, stime = 0;
        for (int i = 3; i <= 15 && fields >> f; ++i) {
            if (i == 14) utime = std::stoull(f);
            if (i == 15) stime = std::stoull(f);
        }
        result = double(utime + stime) / double(::sysconf(_SC_CLK_TCK));
        break;
    }
    ::closedir(proc);
    return result;
}

} // namespace foldvm::bench

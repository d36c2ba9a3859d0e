#include "table.hpp"

#include <algorithm>
#include <cstdio>

namespace foldctl {

std::string Table::render() const {
    std::vector<size_t> width(header_.size(), 0);
    auto measure = [&](const std::vector<std::string>& row) {
        for (size_t i = 0; i < row.size() && i < width.size(); ++i)
            width[i] = std::max(width[i], row[i].size());
    };
    measure(header_);
    for (const auto& r : rows_)
        measure(r);
    std::string out;
    auto emit = [&](const std::vector<std::string>& row) {
        std::string line;
        for (size_t i = 0; i < width.size(); ++i) {
            std::string cell = i < row.size() ? row[i] : "";
            line += cell;
            if (i + 1 < width.size()) line += std::string(width[i] - cell.size() + 2, ' ');
        }
        while (!line.empty() && line.back() == ' ')
            line.pop_back();
        out += line + "\n";
    };
    emit(header_);
    for (const auto& r : rows_)
        emit(r);
    return out;
}

std::string key_values(const std::vector<std::pair<std::string, std::string>>& rows) {
    size_t w = 0;
    for (const auto& [k, v] : rows)
        w = std::max(w, k.size());
    std::string out;
    for (const auto& [k, v] : rows)
        out += k + ":" + std::string(w - k.size() + 2, ' ') + v + "\n";
    return out;
}

std::string human_bytes(unsigned long long bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    if (u == 0)
        std::snprintf(buf, sizeof buf, "%llu B", bytes);
    else
        std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
    return buf;
}

} // namespace foldctl

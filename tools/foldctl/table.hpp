// Plain-text tables and key/value listings for people.
#pragma once

#include <string>
#include <vector>

namespace foldctl {

class Table {
  public:
    explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    // Columns padded to their widest cell, two spaces apart.
    std::string render() const;

  private:
    std::vector<std::string> header_;
    std::vector<std::vector<std::string>> rows_;
};

// "key:   value" lines with aligned values.
std::string key_values(const std::vector<std::pair<std::string, std::string>>& rows);

// 1536 KiB style sizes for byte counts.
std::string human_bytes(unsigned long long bytes);

} // namespace foldctl

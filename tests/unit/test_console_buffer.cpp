#include "vmm/machine/console_buffer.hpp"

#include <catch2/catch.hpp>

using namespace foldvm;

TEST_CASE("the console turns bytes into lines and keeps the last ones", "[console]") {
    std::vector<std::string> sent;
    ConsoleBuffer console([&](const std::string& line) { sent.push_back(line); });
    console.write("one\ntw", 6);
    CHECK(sent == std::vector<std::string>{"one"});
    console.write("o\n", 2);
    CHECK(sent == std::vector<std::string>{"one", "two"});
    console.write("prompt$ ", 8);
    CHECK(console.tail(10) == std::vector<std::string>{"one", "two"});
    console.flush(); // a last line without '\n' still reaches the host
    CHECK(sent.back() == "prompt$ ");
    CHECK(console.tail(1) == std::vector<std::string>{"prompt$ "});
    console.flush(); // nothing pending: no empty line
    CHECK(sent.size() == 3);
}

TEST_CASE("the console splits overlong lines and bounds its history", "[console]") {
    std::vector<std::string> sent;
    ConsoleBuffer console([&](const std::string& line) { sent.push_back(line); });
    std::string longline(ConsoleBuffer::kLineMax + 10, 'x');
    longline += '\n';
    console.write(longline.data(), longline.size());
    REQUIRE(sent.size() == 2);
    CHECK(sent[0].size() == ConsoleBuffer::kLineMax);
    CHECK(sent[1].size() == 10);
    for (size_t i = 0; i < ConsoleBuffer::kHistoryLines + 5; ++i)
        console.write("l\n", 2);
    CHECK(console.tail(1'000'000).size() == ConsoleBuffer::kHistoryLines);
}

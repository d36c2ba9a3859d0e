#include "memory_commands.hpp"

#include "table.hpp"

#include <iostream>
#include <memory>

namespace foldctl {

namespace {

using nlohmann::json;

std::string bytes(const json& v) {
    return v.is_number_unsigned() ? human_bytes(v.get<uint64_t>()) : str(v);
}

void show_host_memory(const json& m) {
    const json& t = m["thresholds"];
    std::cout << key_values({
        {"overcommit", m["enabled"].get<bool>() ? "on" : "off"},
        {"state", str(m["state"])},
        {"budget", bytes(m["budget_bytes"]) + " (" + str(m["budget_source"]) + ")"},
        {"budget floor", bytes(m["budget_floor_bytes"])},
        {"used", bytes(m["used_bytes"])},
        {"peak used", bytes(m["peak_used_bytes"])},
        {"thresholds (free)", "high >= " + bytes(t["high_free_bytes"]) +
                                  ", soft >= " + bytes(t["soft_free_bytes"]) +
                                  ", hard >= " + bytes(t["hard_free_bytes"]) + ", below: low"},
    });
    Table tiers({"TIER", "ENABLED", "PAGES", "STORED", "ALLOCATED", "LIMIT", "FRAG", "WRITTEN",
                 "ERRORS", "REASON"});
    for (const char* name : {"compressed", "swap"}) {
        const json& x = m["tiers"][name];
        tiers.add({name, str(x["enabled"]), str(x["pages"]), bytes(x["stored_bytes"]),
                   bytes(x["allocated_bytes"]),
                   x["limit_bytes"] == 0 ? "-" : bytes(x["limit_bytes"]), str(x["fragmentation"]),
                   bytes(x["bytes_written"]),
                   str(x["write_errors"].get<uint64_t>() + x["read_errors"].get<uint64_t>()),
                   str(x["disabled_reason"])});
    }
    std::cout << "\n" << tiers.render();
    Table gov({"GOVERNOR", "COUNT"});
    for (auto it = m["governor"].begin(); it != m["governor"].end(); ++it)
        gov.add({it.key(), str(*it)});
    std::cout << "\n" << gov.render();
    Table cfg({"OPTION", "VALUE"});
    for (auto it = m["config"].begin(); it != m["config"].end(); ++it)
        cfg.add({it.key(), str(*it)});
    std::cout << "\n" << cfg.render();
}

void show_vm_memory(const json& v) {
    std::vector<std::pair<std::string, std::string>> rows;
    for (auto it = v.begin(); it != v.end(); ++it)
        rows.emplace_back(it.key(), str(*it));
    std::cout << key_values(rows);
}

// KEY=VALUE as JSON: true/false, a non-negative integer, else a string
// (the server says which fields take which).
json assignment_value(const std::string& text) {
    if (text == "true") return true;
    if (text == "false") return false;
    if (!text.empty() && text.size() <= 19 &&
        text.find_first_not_of("0123456789") == std::string::npos)
        return std::stoull(text);
    return text;
}

json assignments(const std::vector<std::string>& kvs) {
    json body = json::object();
    for (const auto& kv : kvs) {
        auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0)
            throw Failure{kExitUsage, "'" + kv + "' must look like KEY=VALUE"};
        body[kv.substr(0, eq)] = assignment_value(kv.substr(eq + 1));
    }
    return body;
}

void print(const Globals& g, const json& r, void (*show)(const json&)) {
    if (g.json_out)
        print_json(r);
    else
        show(r);
}

} // namespace

CLI::App* add_memory_commands(CLI::App& host, CLI::App& vm, Globals& g,
                              std::function<void()>& action) {
    auto* mem = host.add_subcommand("memory", "Show the memory budget, state, tiers and governor");
    mem->add_flag("--json", g.json_out, "Print the API's JSON");
    auto kvs = std::make_shared<std::vector<std::string>>();
    auto* set = mem->add_subcommand(
        "set", "Change live overcommit options atomically: KEY=VALUE... (e.g. budget_mib=4096)");
    set->add_option("assignments", *kvs, "KEY=VALUE pairs")->required();
    set->add_flag("--json", g.json_out, "Print the API's JSON");
    mem->callback([&g, &action, mem] {
        if (mem->got_subcommand("set")) return;
        action = [&g] { print(g, Api(g).call("GET", "/host/memory"), show_host_memory); };
    });
    set->callback([&g, &action, kvs] {
        action = [&g, kvs] {
            print(g, Api(g).call("PATCH", "/host/memory", assignments(*kvs)), show_host_memory);
        };
    });

    auto id = std::make_shared<std::string>();
    auto* show = vm.add_subcommand("memory", "Show where a VM's pages are and its faults");
    show->add_option("id", *id, "VM id")->required();
    show->add_flag("--json", g.json_out, "Print the API's JSON");
    show->callback([&g, &action, id] {
        action = [&g, id] {
            print(g, Api(g).call("GET", "/vms/" + std::to_string(parse_id(*id)) + "/memory"),
                  show_vm_memory);
        };
    });
    for (auto [name, state, help] :
         {std::tuple{"park", "parked", "Move a VM's memory to the tiers (it keeps running)"},
          std::tuple{"unpark", "active", "Let a parked VM's memory come back"}}) {
        auto* s = vm.add_subcommand(name, help);
        s->add_option("id", *id, "VM id")->required();
        s->add_flag("--json", g.json_out, "Print the API's JSON");
        std::string target = state;
        s->callback([&g, &action, id, target] {
            action = [&g, id, target] {
                uint64_t vm_id = parse_id(*id);
                json r = Api(g).call("PUT", "/vms/" + std::to_string(vm_id) + "/memory",
                                     {{"state", target}});
                if (g.json_out)
                    print_json(r);
                else
                    std::cout << "VM " << vm_id << ": " << str(r["state"]) << ", "
                              << str(r["resident_pages"]) << " pages resident\n";
            };
        });
    }
    return mem;
}

} // namespace foldctl

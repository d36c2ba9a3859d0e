// foldctl: command-line client of the foldvm REST API socket.
//
// Exit status: 0 success, 1 the API refused the request (HTTP 4xx/5xx),
// 2 bad command-line input, 3 the socket is unreachable or the exchange failed.
#include "api_call.hpp"
#include "balloon_commands.hpp"
#include "memory_commands.hpp"
#include "table.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>

namespace {

using foldctl::Api;
using foldctl::Failure;
using foldctl::Globals;
using foldctl::kExitUnreachable;
using foldctl::kExitUsage;
using foldctl::parse_count;
using foldctl::parse_id;
using foldctl::print_json;
using foldctl::str;
using nlohmann::json;

// "64", "64M", "1G", "65536K" -> MiB.
uint64_t parse_mem_mib(const std::string& text) {
    size_t pos = 0;
    unsigned long long v = 0;
    try {
        v = std::stoull(text, &pos);
    } catch (const std::exception&) {
        pos = 0;
    }
    std::string suffix = text.substr(pos);
    if (pos == 0 || text[0] == '-') suffix = "?";
    uint64_t kib;
    if (suffix.empty() || suffix == "M" || suffix == "MiB")
        kib = v << 10;
    else if (suffix == "G" || suffix == "GiB")
        kib = v << 20;
    else if (suffix == "K" || suffix == "KiB")
        kib = v;
    else
        throw Failure{kExitUsage, "invalid memory size '" + text + "' (use e.g. 64M or 1G)"};
    if (kib % 1024) throw Failure{kExitUsage, "memory size '" + text + "' is not a whole MiB"};
    return kib >> 10;
}

std::string vm_mem(const json& vm) {
    return str(vm["config"]["mem_mib"]) + " MiB";
}

void show_vm_row_table(const json& list) {
    foldctl::Table t({"ID", "STATE", "MEM", "VCPUS", "DOMAIN", "EXIT", "KERNEL"});
    for (const auto& vm : list)
        t.add({str(vm["id"]), str(vm["state"]), vm_mem(vm), str(vm["config"]["vcpus"]),
               str(vm["config"]["dedup_domain"]), str(vm["exit_code"]),
               str(vm["config"]["kernel"])});
    std::cout << t.render();
}

void show_vm_detail(const json& vm) {
    std::vector<std::pair<std::string, std::string>> rows = {
        {"id", str(vm["id"])},
        {"state", str(vm["state"])},
        {"exit code", str(vm["exit_code"])},
        {"kernel", str(vm["config"]["kernel"])},
        {"memory", vm_mem(vm)},
        {"vcpus", str(vm["config"]["vcpus"])},
        {"cmdline", str(vm["config"]["cmdline"])},
        {"initrd", str(vm["config"]["initrd"])},
        {"dedup domain", str(vm["config"]["dedup_domain"])},
        {"guest cpl", str(vm["config"]["guest_cpl"])},
    };
    if (vm.contains("crash_reason") && vm["crash_reason"].is_string())
        rows.emplace_back("crash reason", vm["crash_reason"].get<std::string>());
    if (vm.contains("memory"))
        rows.emplace_back("resident",
                          foldctl::human_bytes(vm["memory"]["resident_bytes"].get<uint64_t>()));
    if (vm.contains("dedup") && vm["dedup"].is_object()) {
        const json& d = vm["dedup"];
        for (const char* k : {"pages", "pages_merged", "zero_pages", "pages_unshared",
                              "pages_volatile", "cow_breaks", "freeze_mode"})
            rows.emplace_back(std::string("dedup ") + k, str(d[k]));
    }
    std::cout << foldctl::key_values(rows);
}

void show_dedup(const json& d) {
    std::cout << "mode: " << str(d["mode"]) << "\n";
    if (d["config"].is_object()) {
        foldctl::Table t({"KNOB", "VALUE"});
        for (auto it = d["config"].begin(); it != d["config"].end(); ++it)
            t.add({it.key(), str(*it)});
        std::cout << "\n" << t.render();
    }
    if (d["stats"].is_object()) {
        foldctl::Table t({"STAT", "VALUE"});
        for (auto it = d["stats"].begin(); it != d["stats"].end(); ++it)
            if (it.key() != "vms") t.add({it.key(), str(*it)});
        std::cout << "\n" << t.render();
        const json& vms = d["stats"]["vms"];
        if (vms.is_array() && !vms.empty()) {
            foldctl::Table v({"REGION", "DOMAIN", "PAGES", "MERGED", "ZERO", "UNSHARED", "VOLATILE",
                              "COW_BREAKS"});
            for (const auto& r : vms)
                v.add({str(r["name"]), str(r["domain"]), str(r["pages"]), str(r["pages_merged"]),
                       str(r["zero_pages"]), str(r["pages_unshared"]), str(r["pages_volatile"]),
                       str(r["cow_breaks"])});
            std::cout << "\n" << v.render();
        }
    }
    if (d.contains("ksm") && d["ksm"].is_object()) {
        foldctl::Table t({"KSM", "VALUE"});
        for (auto it = d["ksm"].begin(); it != d["ksm"].end(); ++it)
            t.add({it.key(), str(*it)});
        std::cout << "\n" << t.render();
    }
}

void show_host(const json& h) {
    auto bytes = [&](const char* k) { return foldctl::human_bytes(h[k].get<uint64_t>()); };
    const json& m = h["mapping_budget"];
    std::cout << foldctl::key_values({
        {"cpus", str(h["cpus"])},
        {"memory total", bytes("mem_total_bytes")},
        {"memory free", bytes("mem_free_bytes")},
        {"memory available", bytes("mem_available_bytes")},
        {"guest memory", bytes("guest_mem_bytes")},
        {"guest resident", bytes("guest_resident_bytes")},
        {"foldvm rss", bytes("process_rss_bytes")},
        {"vms", str(h["vms"]) + " (" + str(h["vms_active"]) + " active)"},
        {"dedup mode", str(h["dedup_mode"])},
        {"mappings", str(m["used"]) + " / " + str(m["limit"]) +
                         (m["exhausted"].get<bool>() ? " (exhausted)" : "") +
                         ", vm.max_map_count " + str(m["max_map_count"])},
    });
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"foldctl: control a foldvm daemon through its REST API socket", "foldctl"};
    app.require_subcommand(1);
    Globals g;
    g.sock = foldctl::default_socket();
    app.add_option("--sock", g.sock, "API socket (default $FOLDVM_API_SOCK or /run/foldvm.sock)")
        ->capture_default_str();
    app.add_flag("--json", g.json_out, "Print the API's JSON instead of tables");
    app.add_option("--timeout", g.timeout_s, "Seconds to wait for a response")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();

    std::function<void()> action;
    auto api = [&g] { return Api(g); };

    // vm ...
    auto* vm = app.add_subcommand("vm", "Create and manage VMs");
    vm->require_subcommand(1);
    struct CreateOpts {
        std::string kernel, mem = "32M", cmdline, initrd, domain;
        int vcpus = 1, cpl = 3;
    };
    auto create = std::make_shared<CreateOpts>();
    auto* c = vm->add_subcommand("create", "Create and start a VM from an ELF image");
    c->add_option("kernel", create->kernel, "Guest ELF image (made absolute)")->required();
    c->add_option("--mem", create->mem, "Guest RAM, e.g. 64M or 1G")->capture_default_str();
    c->add_option("--vcpus", create->vcpus, "vCPUs")->capture_default_str();
    c->add_option("--cmdline", create->cmdline, "Guest command line");
    c->add_option("--initrd", create->initrd, "Blob loaded into guest RAM");
    c->add_option("--dedup-domain", create->domain, "Dedup domain");
    c->add_option("--guest-cpl", create->cpl, "Guest privilege level (0 or 3)")
        ->capture_default_str();
    c->callback([&, create] {
        action = [&, create] {
            json body = {{"kernel", std::filesystem::absolute(create->kernel).string()},
                         {"mem_mib", parse_mem_mib(create->mem)},
                         {"vcpus", create->vcpus},
                         {"cmdline", create->cmdline},
                         {"guest_cpl", create->cpl}};
            if (!create->initrd.empty())
                body["initrd"] = std::filesystem::absolute(create->initrd).string();
            if (!create->domain.empty()) body["dedup_domain"] = create->domain;
            json r = api().call("POST", "/vms", body);
            if (g.json_out)
                print_json(r);
            else
                std::cout << "created VM " << str(r["id"]) << " (" << str(r["state"]) << ")\n";
        };
    });
    vm->add_subcommand("ls", "List VMs")->callback([&] {
        action = [&] {
            json r = api().call("GET", "/vms");
            if (g.json_out)
                print_json(r);
            else
                show_vm_row_table(r["vms"]);
        };
    });
    auto id_text = std::make_shared<std::string>();
    auto add_id_cmd = [&](const char* name, const char* help, std::function<void(uint64_t)> fn) {
        auto* s = vm->add_subcommand(name, help);
        s->add_option("id", *id_text, "VM id")->required();
        s->callback([&, fn] { action = [&, fn] { fn(parse_id(*id_text)); }; });
        return s;
    };
    add_id_cmd("show", "Show a VM's state, config, memory and dedup figures", [&](uint64_t id) {
        json r = api().call("GET", "/vms/" + std::to_string(id));
        if (g.json_out)
            print_json(r);
        else
            show_vm_detail(r);
    });
    for (auto [cmd, state] : {std::pair{"pause", "paused"}, std::pair{"resume", "running"},
                              std::pair{"stop", "stopped"}}) {
        std::string target_state = state;
        add_id_cmd(cmd, (std::string("Set a VM's state to ") + state).c_str(),
                   [&, target_state](uint64_t id) {
                       json r = api().call("PUT", "/vms/" + std::to_string(id) + "/state",
                                           {{"state", target_state}});
                       if (g.json_out)
                           print_json(r);
                       else
                           std::cout << "VM " << id << ": " << str(r["state"]) << "\n";
                   });
    }
    add_id_cmd("rm", "Stop and remove a VM", [&](uint64_t id) {
        api().call("DELETE", "/vms/" + std::to_string(id));
        if (g.json_out)
            print_json({{"id", id}, {"removed", true}});
        else
            std::cout << "removed VM " << id << "\n";
    });
    auto tail = std::make_shared<unsigned>(100);
    add_id_cmd("console", "Print a VM's recent console lines",
               [&, tail](uint64_t id) {
                   json r = api().call("GET", "/vms/" + std::to_string(id) +
                                                  "/console?tail=" + std::to_string(*tail));
                   if (g.json_out)
                       print_json(r);
                   else
                       for (const auto& line : r["lines"])
                           std::cout << line.get<std::string>() << "\n";
               })
        ->add_option("--tail", *tail, "Number of lines (0-1000)")
        ->capture_default_str();

    foldctl::add_balloon_commands(*vm, g, action);

    // dedup ...
    auto* dd = app.add_subcommand("dedup", "Show and tune page sharing");
    dd->require_subcommand(1);
    dd->add_subcommand("show", "Show dedup mode, knobs and statistics")->callback([&] {
        action = [&] {
            json r = api().call("GET", "/dedup");
            if (g.json_out)
                print_json(r);
            else
                show_dedup(r);
        };
    });
    auto kvs = std::make_shared<std::vector<std::string>>();
    auto* set = dd->add_subcommand("set", "Change knobs atomically: KEY=VALUE...");
    set->add_option("assignments", *kvs, "KEY=VALUE pairs")->required();
    set->callback([&, kvs] {
        action = [&, kvs] {
            json body = json::object();
            for (const auto& kv : *kvs) {
                auto eq = kv.find('=');
                if (eq == std::string::npos || eq == 0)
                    throw Failure{kExitUsage, "'" + kv + "' must look like KEY=VALUE"};
                std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
                body[key] = parse_count(value, "value of '" + key + "'");
            }
            json r = api().call("PATCH", "/dedup", body);
            if (g.json_out)
                print_json(r);
            else {
                foldctl::Table t({"KNOB", "VALUE"});
                for (auto it = r["config"].begin(); it != r["config"].end(); ++it)
                    t.add({it.key(), str(*it)});
                std::cout << t.render();
            }
        };
    });
    for (auto [cmd, act] :
         {std::pair{"scan-now", "scan_now"}, std::pair{"unmerge", "unmerge_all"}}) {
        std::string a = act;
        dd->add_subcommand(cmd, a == "scan_now" ? "Run a full scan pass now"
                                                : "Unmerge every shared page now")
            ->callback([&, a] {
                action = [&, a] {
                    json r = api().call("POST", "/dedup/actions", {{"action", a}});
                    if (g.json_out)
                        print_json(r);
                    else
                        std::cout << a << ": " << str(r["status"]) << "\n";
                };
            });
    }

    auto* host = app.add_subcommand("host", "Show host RAM, guest RAM and the mapping budget; "
                                            "`host memory` for the overcommit budget");
    CLI::App* host_memory = foldctl::add_memory_commands(*host, *vm, g, action);
    host->callback([&, host_memory] {
        if (host_memory->parsed()) return;
        action = [&] {
            json r = api().call("GET", "/host");
            if (g.json_out)
                print_json(r);
            else
                show_host(r);
        };
    });
    app.add_subcommand("metrics", "Print the Prometheus metrics")->callback([&] {
        action = [&] { std::cout << api().raw("GET", "/metrics").body; };
    });
    app.add_subcommand("version", "Print the daemon's version")->callback([&] {
        action = [&] {
            json r = api().call("GET", "/version");
            if (g.json_out)
                print_json(r);
            else
                std::cout << "foldvm " << str(r["version"]) << "\n";
        };
    });

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : kExitUsage;
    }
    try {
        if (action) action();
        return 0;
    } catch (const Failure& f) {
        std::cerr << "foldctl: error: " << f.message << "\n";
        return f.code;
    } catch (const std::exception& e) {
        std::cerr << "foldctl: error: " << e.what() << "\n";
        return kExitUnreachable;
    }
}

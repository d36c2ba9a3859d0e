#include "balloon_commands.hpp"

#include "table.hpp"

#include <iostream>
#include <memory>

namespace foldctl {

namespace {

using nlohmann::json;

// Firecracker's order: the balloon's size, then the guest's statistics.
const char* const kStatOrder[] = {
    "target_mib",       "actual_mib",   "target_pages",        "actual_pages",     "swap_in",
    "swap_out",         "major_faults", "minor_faults",        "free_memory",      "total_memory",
    "available_memory", "disk_caches",  "hugetlb_allocations", "hugetlb_failures", "oom_kill",
    "alloc_stall",      "async_scan",   "direct_scan",         "async_reclaim",    "direct_reclaim",
};

void show_config(const json& c) {
    std::cout << key_values({{"amount_mib", str(c["amount_mib"])},
                             {"deflate_on_oom", str(c["deflate_on_oom"])},
                             {"stats_polling_interval_s", str(c["stats_polling_interval_s"])},
                             {"free_page_reporting", str(c["free_page_reporting"])}});
}

void show_stats(const json& s) {
    Table t({"STAT", "VALUE"});
    for (const char* name : kStatOrder)
        if (s.contains(name)) t.add({name, str(s[name])});
    if (s.contains("host") && s["host"].is_object())
        for (auto it = s["host"].begin(); it != s["host"].end(); ++it)
            t.add({"host." + it.key(),
                   it->is_string() && it->get_ref<const std::string&>().empty() ? "-" : str(*it)});
    std::cout << t.render();
}

struct BalloonOpts {
    std::string id;
    std::string amount_mib, stats_interval;
    CLI::Option* amount_opt = nullptr; // given when count() > 0
    CLI::Option* interval_opt = nullptr;
};

void run_balloon(const Globals& g, const BalloonOpts& o) {
    uint64_t id = parse_id(o.id);
    std::string path = "/vms/" + std::to_string(id) + "/balloon";
    bool amount = o.amount_opt->count() > 0, interval = o.interval_opt->count() > 0;
    uint64_t mib = amount ? parse_count(o.amount_mib, "--amount-mib") : 0;
    uint64_t secs = interval ? parse_count(o.stats_interval, "--stats-interval") : 0;
    Api api(g);
    json r;
    if (amount && interval) {
        // Both through one PUT, so the server checks both before changing either.
        json c = api.call("GET", path);
        c["amount_mib"] = mib;
        c["stats_polling_interval_s"] = secs;
        r = api.call("PUT", path, c);
    } else if (amount) {
        r = api.call("PATCH", path, {{"amount_mib", mib}});
    } else if (interval) {
        r = api.call("PATCH", path + "/statistics", {{"stats_polling_interval_s", secs}});
    } else {
        r = api.call("GET", path);
    }
    if (g.json_out)
        print_json(r);
    else
        show_config(r);
}

} // namespace

void add_balloon_commands(CLI::App& vm, const Globals& g, std::function<void()>& action) {
    auto o = std::make_shared<BalloonOpts>();
    auto* b = vm.add_subcommand("balloon", "Show a VM's balloon, or set its target or "
                                           "statistics interval");
    b->add_option("id", o->id, "VM id")->required();
    o->amount_opt = b->add_option("--amount-mib", o->amount_mib,
                                  "New balloon target in MiB (memory taken away)");
    o->interval_opt = b->add_option("--stats-interval", o->stats_interval,
                                    "Seconds between guest statistics (statistics cannot be "
                                    "switched on or off after creation)");
    b->callback([&g, &action, o] { action = [&g, o] { run_balloon(g, *o); }; });

    auto stats_id = std::make_shared<std::string>();
    auto* s = vm.add_subcommand("balloon-stats", "Show a VM's balloon size and guest statistics");
    s->add_option("id", *stats_id, "VM id")->required();
    s->callback([&g, &action, stats_id] {
        action = [&g, stats_id] {
            uint64_t id = parse_id(*stats_id);
            json r = Api(g).call("GET", "/vms/" + std::to_string(id) + "/balloon/statistics");
            if (g.json_out)
                print_json(r);
            else
                show_stats(r);
        };
    });
}

} // namespace foldctl

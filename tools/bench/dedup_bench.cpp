// foldvm-bench dedup: identical memfill guests under the built-in engine or
// the host's KSM, against a ground truth computed by hashing every page.
#include "bench_util.hpp"
#include "ksm_settings.hpp"

#include "dedup/config.hpp"
#include "vmm/boot/elf_loader.hpp"
#include "vmm/memory/process_memory.hpp"
#include "vmm/sharing/dedup_service.hpp"

#include <nlohmann/json.hpp>
#include <xxhash.h>

#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <regex>
#include <unordered_map>

namespace foldvm::bench {

namespace {

struct DedupBenchOptions {
    int vms = 8;
    uint64_t mem = 256ull << 20;
    std::string shared = "0.75";
    std::string zero = "0.05";
    int churn = 0;
    std::string engine = "builtin";
    bool compare = false;
    double timeout_s = 120;
    double settle_s = 2;
};

struct GroundTruth {
    uint64_t duplicates = 0;
    uint64_t zero = 0;
    uint64_t mergeable() const { return duplicates + zero; }
};

GroundTruth count_ground_truth(Host& host, const std::vector<uint64_t>& ids) {
    std::unordered_map<uint64_t, uint64_t> counts;
    GroundTruth gt;
    static const uint8_t zeros[4096] = {};
    for (uint64_t id : ids) {
        GuestMemory& mem = host.vm(id)->memory();
        for (uint64_t gpa = 0; gpa < mem.size(); gpa += 4096) {
            const uint8_t* p = mem.translate(gpa, 4096);
            if (std::memcmp(p, zeros, 4096) == 0)
                ++gt.zero;
            else
                ++counts[XXH3_64bits(p, 4096)];
        }
    }
    for (auto& [h, n] : counts)
        gt.duplicates += n - 1;
    return gt;
}

struct Sample {
    double t;
    uint64_t merged;
};

nlohmann::json run_once(const DedupBenchOptions& o, const std::string& engine) {
    bool ksm = engine == "ksm";
    std::optional<KsmSettings> ksm_settings;
    if (ksm) {
        ksm_settings.emplace();
        ksm_settings->set("run", 0);
        ksm_settings->set("pages_to_scan", 10000);
        ksm_settings->set("sleep_millisecs", 0);
        ksm_settings->set("use_zero_pages", 1);
    }
    Host host;
    dedup::DedupConfig cfg;
    cfg.run = 0; // start only once the guests have filled their memory
    cfg.sleep_millisecs = 0;
    cfg.pages_to_scan = 100000;
    DedupService sharing(host, ksm ? DedupMode::Ksm : DedupMode::Builtin, cfg);

    std::string image_path = self_dir() + "/guest-kernels/memfill.elf";
    Blob image =
        std::make_shared<const std::vector<uint8_t>>(read_image_file(image_path, 64 << 20));
    std::string cmdline = "shared=" + o.shared + " zero=" + o.zero;
    if (o.churn > 0) cmdline += " churn=" + std::to_string(o.churn) + " verify verify_ms=500";
    ConsoleLog console;
    std::vector<uint64_t> ids;
    for (int i = 0; i < o.vms; ++i) {
        VmConfig c;
        c.image = image;
        c.mem_bytes = o.mem;
        c.cmdline = cmdline;
        c.index = uint64_t(i);
        sharing.prepare(c);
        ids.push_back(host.create_vm(c, console.events()));
    }
    auto t_fill = std::chrono::steady_clock::now();
    for (uint64_t id : ids)
        host.vm(id)->start();
    if (!wait_until([&] { return console.vms_with("memfill: filled") == ids.size(); }, 300, 20))
        throw std::runtime_error("guests did not finish filling memory");
    double fill_s = seconds_since(t_fill);

    GroundTruth gt = count_ground_truth(host, ids);

    auto merged_now = [&]() -> uint64_t {
        if (ksm) {
            auto c = read_ksm_counters().values;
            return uint64_t(c["pages_sharing"] + c["ksm_zero_pages"]);
        }
        auto s = *sharing.stats();
        return s.pages_sharing + s.zero_pages;
    };
    auto cpu_now = [&]() -> double {
        return ksm ? ksmd_cpu_seconds() : sharing.stats()->engine_cpu_s;
    };

    double cpu0 = cpu_now();
    auto t0 = std::chrono::steady_clock::now();
    if (ksm) {
        ksm_settings->set("run", 1);
    } else {
        sharing.update_knobs([](dedup::DedupConfig& c) { c.run = 1; });
    }
    std::vector<Sample> samples;
    double converge_cpu = -1, reached_at = -1;
    uint64_t target = gt.mergeable() * 99 / 100;
    while (seconds_since(t0) < o.timeout_s) {
        uint64_t m = merged_now();
        double t = seconds_since(t0);
        samples.push_back({t, m});
        if (m >= target && reached_at < 0) {
            reached_at = t;
            converge_cpu = cpu_now() - cpu0;
        }
        if (reached_at >= 0 && t - reached_at >= o.settle_s) break; // let savings settle
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    double cpu_total = cpu_now() - cpu0;
    uint64_t final_merged = merged_now();
    uint64_t mem_kib = process_anon_rss_kib();
    nlohmann::json engine_stats;
    if (ksm) {
        auto c = read_ksm_counters();
        mem_kib -= uint64_t(c.values["pages_sharing"]) * 4;
        engine_stats = nlohmann::json::object();
        for (auto& [k, v] : c.values)
            engine_stats[k] = v;
    } else {
        auto s = *sharing.stats();
        mem_kib += s.pool_bytes / 1024;
        engine_stats = {{"full_scans", s.full_scans},
                        {"merge_batches", s.merge_batches},
                        {"freeze_wait_us_p99", s.freeze_wait_us_p99},
                        {"cow_breaks", s.cow_breaks},
                        {"mappings_used", s.mappings_used},
                        {"pages_shared", s.pages_shared},
                        {"merge_failures", s.merge_failures}};
        for (const auto& [name, ms] : s.phase_ms)
            engine_stats["phase_ms"][name] = ms;
    }

    // With churn the truth moves: recount with the guests paused and judge
    // convergence against the smaller of the two counts.
    for (uint64_t id : ids)
        host.vm(id)->pause();
    GroundTruth gt_end = count_ground_truth(host, ids);
    uint64_t goal = std::min(gt.mergeable(), gt_end.mergeable()) * 99 / 100;
    double converge_s = -1;
    for (auto& s : samples)
        if (s.merged >= goal) {
            converge_s = s.t;
            break;
        }
    uint64_t lost = 0;
    std::regex verify_re("mismatches=([0-9]+) writes=([0-9]+)");
    for (auto& line : console.all()) {
        std::smatch m;
        if (std::regex_search(line, m, verify_re)) {
            lost = std::max<uint64_t>(lost, std::stoull(m[1]));
        }
        if (line.find("MISMATCH") != std::string::npos) ++lost;
    }
    for (uint64_t id : ids)
        host.vm(id)->resume();
    host.stop_all();

    double cpu_for_merge = converge_cpu >= 0 ? converge_cpu : cpu_total;
    uint64_t merged_at_converge = std::max<uint64_t>(goal, 1);
    return {{"engine", engine},
            {"vms", o.vms},
            {"mem_mib", o.mem >> 20},
            {"shared", std::stod(o.shared)},
            {"zero", std::stod(o.zero)},
            {"churn", o.churn},
            {"fill_s", fill_s},
            {"ground_truth_mergeable_pages", gt.mergeable()},
            {"ground_truth_end_mergeable_pages", gt_end.mergeable()},
            {"ground_truth_zero_pages", gt.zero},
            {"pages_sharing_plus_zero", final_merged},
            {"saved_mib", double(final_merged) * 4096 / (1 << 20)},
            {"converge_s", converge_s},
            {"engine_cpu_s", cpu_for_merge},
            {"engine_cpu_total_s", cpu_total},
            {"cpu_us_per_merged_page", cpu_for_merge * 1e6 / double(merged_at_converge)},
            {"lost_writes", lost},
            {"host_rss_mib", double(mem_kib) / 1024},
            {"process_vmrss_mib", double(process_rss_kib()) / 1024},
            {"stats", engine_stats}};
}

} // namespace

int run_dedup_bench(int argc, char** argv) {
    DedupBenchOptions o;
    for (int i = 0; i < argc; ++i) {
        std::string k = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(k + " needs a value");
            return argv[++i];
        };
        if (k == "--vms")
            o.vms = std::stoi(next());
        else if (k == "--mem")
            o.mem = parse_size(next());
        else if (k == "--shared")
            o.shared = next();
        else if (k == "--zero")
            o.zero = next();
        else if (k == "--churn")
            o.churn = std::stoi(next());
        else if (k == "--engine")
            o.engine = next();
        else if (k == "--compare")
            o.compare = true;
        else if (k == "--timeout")
            o.timeout_s = std::stod(next());
        else if (k == "--settle")
            o.settle_s = std::stod(next());
        else
            throw std::invalid_argument("unknown option " + k);
    }
    if (o.engine != "builtin" && o.engine != "ksm")
        throw std::invalid_argument("--engine must be builtin or ksm");
    nlohmann::json out;
    if (!o.compare) {
        out = run_once(o, o.engine);
    } else {
        auto b = run_once(o, "builtin");
        auto k = run_once(o, "ksm");
        auto ratio = [](double num, double den) { return den > 0 ? num / den : -1.0; };
        out = {{"bench", "dedup-compare"},
               {"builtin", b},
               {"ksm", k},
               {"ratios",
                {{"converge_speedup_vs_ksm", ratio(k["converge_s"], b["converge_s"])},
                 {"cpu_per_page_vs_ksm",
                  ratio(b["cpu_us_per_merged_page"], k["cpu_us_per_merged_page"])},
                 {"savings_vs_ksm", ratio(b["saved_mib"], k["saved_mib"])}}}};
    }
    std::cout << out.dump() << std::endl;
    return 0;
}

} // namespace foldvm::bench

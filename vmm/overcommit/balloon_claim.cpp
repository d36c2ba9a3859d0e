#include "balloon_claim.hpp"

#include "vmm/devices/virtio/balloon.hpp"

#include <algorithm>

namespace foldvm::overcommit {

uint64_t claim_free_memory(BalloonDevice& balloon, BalloonClaim& claim, uint64_t want_mib,
                           uint64_t guest_mib, std::chrono::steady_clock::time_point now) {
    BalloonStats s = balloon.stats();
    if (!s.driver_ok || s.needs_reset || want_mib == 0) return 0;
    auto free = s.guest.find("free_memory");
    if (free == s.guest.end() || s.stats_age_s < 0 || s.stats_age_s > 10) return 0;
    // The guest has not caught up with the last ask yet: its free figure
    // still counts what it is about to hand over.
    if (s.actual_mib < s.target_mib && now - claim.asked_at < std::chrono::seconds(5)) return 0;
    uint64_t reserve_mib = std::max<uint64_t>(guest_mib / 8, 8);
    uint64_t free_mib = free->second >> 20;
    if (free_mib <= reserve_mib) return 0;
    uint64_t take = std::min(want_mib, free_mib - reserve_mib);
    uint64_t target = std::min(s.target_mib + take, guest_mib);
    if (target <= s.target_mib) return 0;
    take = target - s.target_mib;
    balloon.set_target_mib(target);
    claim.taken_mib += take;
    claim.asked_at = now;
    return take;
}

bool return_claim(BalloonDevice& balloon, BalloonClaim& claim) {
    if (claim.taken_mib == 0) return false;
    uint64_t target = balloon.stats().target_mib;
    // An operator may have lowered the target since: never below zero, and
    // what they set stays.
    balloon.set_target_mib(target > claim.taken_mib ? target - claim.taken_mib : 0);
    claim.taken_mib = 0;
    return true;
}

} // namespace foldvm::overcommit

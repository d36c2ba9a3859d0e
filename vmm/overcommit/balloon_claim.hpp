// The governor's balloon step, before any tier (ESX's order: share,
// balloon, compress, swap): a guest's free memory costs it nothing to give
// back, so a guest with a balloon is asked for what its own statistics
// report free before any of its pages is compressed or swapped.
#pragma once

#include <chrono>
#include <cstdint>

namespace foldvm {
class BalloonDevice;
}

namespace foldvm::overcommit {

// What the governor took from one guest's balloon, on top of the target an
// operator set (which it never lowers).
struct BalloonClaim {
    uint64_t taken_mib = 0;
    std::chrono::steady_clock::time_point asked_at{};
};

// Asks the balloon for up to `want_mib` of the memory its guest reports free
// (`free_memory`), less a reserve of 1/8 of guest RAM (at least 8 MiB), if the
// statistics are fresh (under 10 s old) and the last ask was met or is 5 s
// old. Returns the MiB asked for (0: nothing asked).
uint64_t claim_free_memory(BalloonDevice& balloon, BalloonClaim& claim, uint64_t want_mib,
                           uint64_t guest_mib, std::chrono::steady_clock::time_point now);

// Gives back what the claim took (the target drops by it); true if it had
// taken anything.
bool return_claim(BalloonDevice& balloon, BalloonClaim& claim);

} // namespace foldvm::overcommit

// Engine-private pieces of a merge batch, shared by merge_batch.cpp and
// batch_freeze.cpp.
#pragma once

#include "engine.hpp"
#include "engine_region.hpp"

#include <map>
#include <vector>

namespace foldvm::dedup {

// Stops writes to every page of a batch for as long as it lives: userfaultfd
// write-protect where the region has one, the region's pause hook otherwise.
// thaw() ends it and reports errors; the destructor ends it quietly if thaw()
// was not reached, so writers never stay frozen when a step throws.
class Engine::Freeze {
  public:
    Freeze(Engine& engine, const std::vector<Candidate>& batch);
    ~Freeze();
    Freeze(const Freeze&) = delete;
    Freeze& operator=(const Freeze&) = delete;
    void thaw();

  private:
    struct Range {
        size_t first;
        size_t count;
    };
    std::map<Region*, std::vector<Range>> frozen_;
    bool thawed_ = false;
};

// A verified candidate waiting for its pool mapping.
struct Engine::Remap {
    Region* region;
    size_t index;
    uint32_t slot;
    PageMeta* meta;
};

// What verification decided for each candidate of a batch.
struct Engine::BatchPlan {
    std::vector<Remap> remaps;        // map onto their pool slot
    std::vector<PageMeta*> zeros;     // release as zero pages
    std::vector<StableNode*> touched; // nodes whose sharers may have dropped to 0
};

} // namespace foldvm::dedup

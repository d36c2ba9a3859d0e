// The stable tree: one node per pool copy, ordered by (domain, hash, slot).
// Several nodes may hold the same content once a copy reaches
// max_page_sharing sharers (KSM's "chains" of duplicates).
#pragma once

#include <boost/intrusive/set.hpp>

#include <cstdint>
#include <memory>
#include <vector>

namespace foldvm::dedup {

namespace bi = boost::intrusive;

struct StableNode : bi::set_base_hook<bi::optimize_size<true>> {
    uint64_t hash = 0;
    uint32_t domain = 0;
    uint32_t slot = 0;
    uint32_t sharers = 0;
    uint32_t index = 0; // position in the slab
};

struct StableKey {
    uint32_t domain;
    uint64_t hash;
};

class StableTree {
  public:
    StableTree() = default;
    ~StableTree();
    StableTree(const StableTree&) = delete;
    StableTree& operator=(const StableTree&) = delete;

    // A node with this key and fewer than `max_sharers` sharers, or nullptr.
    StableNode* find_with_room(const StableKey& key, uint32_t max_sharers);
    // Number of nodes with this key (1 = plain node, more = a chain).
    size_t count(const StableKey& key) const;
    StableNode& create(const StableKey& key, uint32_t slot);
    void destroy(StableNode& node);
    StableNode& node(uint32_t index) { return slab_[index / kSlabChunk][index % kSlabChunk]; }
    size_t size() const { return tree_.size(); }
    // Distinct contents held by more than one node.
    uint64_t chains() const { return chains_; }
    uint64_t duplicates() const { return duplicates_; }

  private:
    struct Compare {
        bool operator()(const StableNode& a, const StableNode& b) const;
        bool operator()(const StableKey& a, const StableNode& b) const;
        bool operator()(const StableNode& a, const StableKey& b) const;
    };
    using Tree = bi::multiset<StableNode, bi::compare<Compare>>;
    static constexpr uint32_t kSlabChunk = 1024;

    Tree tree_;
    std::vector<std::unique_ptr<StableNode[]>> slab_; // chunks: addresses never move
    std::vector<uint32_t> free_;
    uint32_t next_ = 0;
    uint64_t chains_ = 0;
    uint64_t duplicates_ = 0;
};

} // namespace foldvm::dedup

#include "stable_tree.hpp"

namespace foldvm::dedup {

namespace {
bool key_less(uint32_t da, uint64_t ha, uint32_t db, uint64_t hb) {
    return da != db ? da < db : ha < hb;
}
} // namespace

bool StableTree::Compare::operator()(const StableNode& a, const StableNode& b) const {
    if (a.domain != b.domain || a.hash != b.hash)
        return key_less(a.domain, a.hash, b.domain, b.hash);
    return a.slot < b.slot;
}
bool StableTree::Compare::operator()(const StableKey& a, const StableNode& b) const {
    return key_less(a.domain, a.hash, b.domain, b.hash);
}
bool StableTree::Compare::operator()(const StableNode& a, const StableKey& b) const {
    return key_less(a.domain, a.hash, b.domain, b.hash);
}

StableTree::~StableTree() {
    tree_.clear();
}

StableNode* StableTree::find_with_room(const StableKey& key, uint32_t max_sharers) {
    auto [it, end] = tree_.equal_range(key, Compare{});
    for (; it != end; ++it)
        if (it->sharers < max_sharers) return &*it;
    return nullptr;
}

size_t StableTree::count(const StableKey& key) const {
    return tree_.count(key, Compare{});
}

StableNode& StableTree::create(const StableKey& key, uint32_t slot) {
    uint32_t index;
    if (!free_.empty()) {
        index = free_.back();
        free_.pop_back();
    } else {
        index = next_++;
        if (index / kSlabChunk >= slab_.size())
            slab_.push_back(std::make_unique<StableNode[]>(kSlabChunk));
    }
    StableNode& n = node(index);
    n.hash = key.hash;
    n.domain = key.domain;
    n.slot = slot;
    n.sharers = 0;
    n.index = index;
    size_t before = count(key);
    tree_.insert(n);
    if (before == 1) ++chains_;
    if (before >= 1) ++duplicates_;
    return n;
}

void StableTree::destroy(StableNode& n) {
    StableKey key{n.domain, n.hash};
    tree_.erase(tree_.iterator_to(n));
    size_t after = count(key);
    if (after == 1) --chains_;
    if (after >= 1) --duplicates_;
    free_.push_back(n.index);
}

} // namespace foldvm::dedup

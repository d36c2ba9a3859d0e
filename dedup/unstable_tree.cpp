#include "unstable_tree.hpp"

namespace foldvm::dedup {

struct UnstableTree::Compare {
    bool operator()(const PageMeta* a, const PageMeta* b) const { return a->hash < b->hash; }
    bool operator()(uint64_t a, const PageMeta* b) const { return a < b->hash; }
    bool operator()(const PageMeta* a, uint64_t b) const { return a->hash < b; }
};

UnstableTree::UnstableTree()
    : header_id_(PageDirectory::instance().allocate(1, nullptr)),
      header_(PageDirectory::instance().meta(header_id_)) {
    Algo::init_header(header_);
}

UnstableTree::~UnstableTree() {
    PageDirectory::instance().release(header_id_, 1);
}

PageMeta* UnstableTree::find(uint64_t salted_hash) const {
    PageMeta* n = Algo::find(header_, salted_hash, Compare{});
    return n == header_ ? nullptr : n;
}

void UnstableTree::insert(PageMeta& page) {
    Algo::insert_equal_upper_bound(header_, &page, Compare{});
    page.set(kInUnstable);
    ++size_;
}

void UnstableTree::erase(PageMeta& page) {
    if (!page.has(kInUnstable)) return;
    Algo::erase(header_, &page);
    page.clear(kInUnstable);
    page.parent = page.left = page.right = kNilPage;
    --size_;
}

} // namespace foldvm::dedup

#include "unstable_tree.hpp"

namespace foldvm::dedup {

struct UnstableTree::Compare {
    const UnstableTree* tree;
    UnstableKey key_of(const PageMeta* p) const { return {tree->domain_of_(*p), p->hash}; }
    static bool less(const UnstableKey& a, const UnstableKey& b) {
        return a.domain != b.domain ? a.domain < b.domain : a.hash < b.hash;
    }
    bool operator()(const PageMeta* a, const PageMeta* b) const { return less(key_of(a), key_of(b)); }
    bool operator()(const UnstableKey& a, const PageMeta* b) const { return less(a, key_of(b)); }
    bool operator()(const PageMeta* a, const UnstableKey& b) const { return less(key_of(a), b); }
};

UnstableTree::UnstableTree(std::function<uint32_t(const PageMeta&)> domain_of)
    : domain_of_(std::move(domain_of)),
      header_id_(PageDirectory::instance().allocate(1, nullptr)),
      header_(PageDirectory::instance().meta(header_id_)) {
    Algo::init_header(header_);
}

UnstableTree::~UnstableTree() { PageDirectory::instance().release(header_id_, 1); }

PageMeta* UnstableTree::find(const UnstableKey& key) const {
    PageMeta* n = Algo::find(header_, key, Compare{this});
    return n == header_ ? nullptr : n;
}

void UnstableTree::insert(PageMeta& page) {
    Algo::insert_equal_upper_bound(header_, &page, Compare{this});
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

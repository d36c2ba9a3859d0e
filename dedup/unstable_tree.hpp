// The unstable tree: unmerged candidate pages ordered by content hash. The
// engine salts the hash with the page's dedup domain, so equal keys imply the
// same domain without a domain lookup per comparison. Boost.Intrusive's red-black algorithms run
// over 32-bit page-id links stored inside PageMeta, so a tracked page costs no extra node memory.
//
// Unlike KSM's memcmp-ordered tree, the order uses the hash recorded when the
// page was last hashed, so a concurrent guest write cannot corrupt the tree;
// a written page is unlinked when the dirty log reports it. That is why the
// tree can persist across passes instead of being rebuilt each pass.
#pragma once

#include "page_directory.hpp"

#include <boost/intrusive/rbtree_algorithms.hpp>

namespace foldvm::dedup {

struct PageNodeTraits {
    using node = PageMeta;
    using node_ptr = PageMeta*;
    using const_node_ptr = const PageMeta*;
    using color = int;

    static node_ptr from_id(PageId id) {
        return id == kNilPage ? nullptr : PageDirectory::instance().meta(id);
    }
    static PageId to_id(const_node_ptr n) { return n ? n->self : kNilPage; }

    static node_ptr get_parent(const_node_ptr n) { return from_id(n->parent); }
    static void set_parent(node_ptr n, node_ptr p) { n->parent = to_id(p); }
    static node_ptr get_left(const_node_ptr n) { return from_id(n->left); }
    static void set_left(node_ptr n, node_ptr l) { n->left = to_id(l); }
    static node_ptr get_right(const_node_ptr n) { return from_id(n->right); }
    static void set_right(node_ptr n, node_ptr r) { n->right = to_id(r); }
    static color get_color(const_node_ptr n) { return n->has(kRed) ? 1 : 0; }
    static void set_color(node_ptr n, color c) { c ? n->set(kRed) : n->clear(kRed); }
    static color black() { return 0; }
    static color red() { return 1; }
};

class UnstableTree {
  public:
    UnstableTree();
    ~UnstableTree();
    UnstableTree(const UnstableTree&) = delete;
    UnstableTree& operator=(const UnstableTree&) = delete;

    // A page with the same key, or nullptr.
    PageMeta* find(uint64_t salted_hash) const;
    void insert(PageMeta& page);
    void erase(PageMeta& page);
    size_t size() const { return size_; }

  private:
    using Algo = boost::intrusive::rbtree_algorithms<PageNodeTraits>;
    struct Compare;
    PageId header_id_;
    PageMeta* header_;
    size_t size_ = 0;
};

} // namespace foldvm::dedup

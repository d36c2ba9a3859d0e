// Entry point for unit tests that need /dev/kvm: exits 77 (meson's SKIP) with
// a one-line reason when KVM is unavailable, instead of passing silently.
#define CATCH_CONFIG_RUNNER
#include "vmm/kvm/kvm.hpp"

#include <catch2/catch.hpp>

#include <cstdio>

int main(int argc, char** argv) {
    std::string reason = foldvm::Kvm::unavailable_reason();
    if (!reason.empty()) {
        std::printf("SKIP: %s\n", reason.c_str());
        return 77;
    }
    return Catch::Session().run(argc, argv);
}

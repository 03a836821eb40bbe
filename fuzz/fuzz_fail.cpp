#include <cstdio>
#include <cstdlib>

#include "fuzz/fuzz_input.hpp"

namespace netd::fuzz {

void fail(const char* what) {
    std::fprintf(stderr, "fuzz invariant failed: %s\n", what);
    std::abort();
}

}  // namespace netd::fuzz

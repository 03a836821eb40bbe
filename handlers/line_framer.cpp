#include "handlers/line_framer.hpp"

#include <cstring>

namespace netd {

std::size_t LineFramer::find_end(std::string_view bytes) const {
    const void* lf = std::memchr(bytes.data(), '\n', bytes.size());
    std::size_t end = lf == nullptr
                          ? std::string_view::npos
                          : static_cast<std::size_t>(static_cast<const char*>(lf) - bytes.data());
    if (nul_ends_) {
        const void* nul =
            std::memchr(bytes.data(), '\0', end == std::string_view::npos ? bytes.size() : end);
        if (nul != nullptr) {
            end = static_cast<std::size_t>(static_cast<const char*>(nul) - bytes.data());
        }
    }
    return end;
}

}  // namespace netd

#pragma once
// Shared by the fuzz targets: the libFuzzer entry point's signature, and a way to carve several
// values (split points, sizes) off the front of one input.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace netd::fuzz {

/// Reads small numbers from the front of the input, then hands out the rest.
class Input {
  public:
    Input(const std::uint8_t* data, std::size_t size)
        : rest_(reinterpret_cast<const char*>(data), size) {}

    /// A number in [0, bound) from the next byte (0 when the input is used up).
    std::size_t pick(std::size_t bound) {
        if (rest_.empty() || bound == 0) {
            return 0;
        }
        const auto byte = static_cast<unsigned char>(rest_.front());
        rest_.remove_prefix(1);
        return byte % bound;
    }

    std::string_view rest() const { return rest_; }

  private:
    std::string_view rest_;
};

/// Other ways a stream could have delivered bytes, for targets whose output must not depend on
/// it: in two pieces cut at split, and (for inputs up to 512 bytes) one byte at a time.
inline std::vector<std::vector<std::string_view>> other_splits(std::string_view bytes,
                                                               std::size_t split) {
    std::vector<std::vector<std::string_view>> ways{{bytes.substr(0, split), bytes.substr(split)}};
    if (bytes.size() <= 512) {
        auto& singles = ways.emplace_back();
        for (std::size_t i = 0; i < bytes.size(); ++i) {
            singles.push_back(bytes.substr(i, 1));
        }
    }
    return ways;
}

/// A failed invariant: abort, so that libFuzzer (and the replay driver) report the input.
[[noreturn]] void fail(const char* what);

}  // namespace netd::fuzz

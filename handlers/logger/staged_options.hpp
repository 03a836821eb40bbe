#pragma once
// A reload's settings for something several services share (one log file and its writer, one
// spool and its forwarder): every handler of the configuration being started stages what it
// asks for; the first one's options stand, the others must ask for the same; the first commit()
// of the configuration hands them over, and a reload that fails unstages them. Not locked: its
// owner calls it under its own mutex.

#include <string_view>

namespace netd {

template <class Options>
class StagedOptions {
  public:
    /// options for the configuration being started; "" or the key first_difference(staged,
    /// options) names when another handler of it staged something else. Each stage() that
    /// returns "" is matched by one commit() or unstage().
    template <class FirstDifference>
    std::string_view stage(const Options& options, FirstDifference first_difference) {
        if (count_ > 0) {
            if (const std::string_view key = first_difference(staged_, options); !key.empty()) {
                return key;
            }
        }
        staged_ = options;
        ++count_;
        return {};
    }

    /// The configuration is the running one now: the staged options, to its first handler that
    /// commits; null to the others (applied already).
    const Options* commit() {
        if (count_ == 0) {
            return nullptr;
        }
        count_ = 0;
        return &staged_;
    }

    /// The configuration was not taken: forget what one handler staged.
    void unstage() {
        if (count_ > 0) {
            --count_;
        }
    }

  private:
    Options staged_;
    unsigned count_ = 0;  ///< handlers that staged and neither committed nor unstaged
};

}  // namespace netd

#pragma once
// exec's `stderr = log`: what a program writes to its stderr, read from a pipe into netd's log a
// line at a time, each with the service, the client and the program ("[svc] PEER: cat[123]:
// LINE"). Bounded both ways: a line is cut at max_line bytes, and at most lines_per_second are
// logged (a burst of burst_lines); what is held back is counted, and said in one line.

#include <boost/asio/any_io_executor.hpp>
#include <string>

namespace netd {

class ProgramOutput {
  public:
    static constexpr std::size_t max_line = 1024;
    static constexpr double lines_per_second = 10;
    static constexpr double burst_lines = 20;

    /// Reads fd (the pipe's read end, now owned) on executor until the program and whatever it
    /// started have closed it, or netd shuts down (then what is in the pipe is read, and no more).
    static void read(const boost::asio::any_io_executor& executor, int fd, std::string prefix);
};

}  // namespace netd

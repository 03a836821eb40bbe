#include "daemon/program_output.hpp"

#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/log/trivial.hpp>
#include <chrono>
#include <memory>

#include "net/connection.hpp"
#include "verify/token_bucket.hpp"

namespace netd {

namespace {

/// One pipe being read. A Connection of its loop, so that shutdown drains it like a client's
/// (a grandchild that keeps the pipe open cannot hold netd up) and never an idle timeout.
class PipeReader final : public Connection, public std::enable_shared_from_this<PipeReader> {
  public:
    PipeReader(const boost::asio::any_io_executor& executor, int fd, std::string prefix)
        : Connection(std::chrono::seconds(0)),
          pipe_(executor, fd),
          prefix_(std::move(prefix)),
          bucket_{.tokens = ProgramOutput::burst_lines, .last = std::chrono::steady_clock::now()} {
        boost::system::error_code ignored;
        pipe_.non_blocking(true, ignored);
    }

    void do_read() {
        pipe_.async_read_some(
            boost::asio::buffer(buffer_),
            [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
                self->take(std::string_view(self->buffer_.data(), n));
                if (ec) {
                    return self->close();  // the end of the program's output, or cancelled
                }
                self->do_read();
            });
    }

    /// Shutdown: what the pipe holds now, then the end.
    void drain(Drain /*why*/) override {
        for (;;) {
            boost::system::error_code ec;
            const std::size_t n = pipe_.read_some(boost::asio::buffer(buffer_), ec);
            take(std::string_view(buffer_.data(), n));
            if (ec) {
                break;
            }
        }
        close();
    }

    void abort() override { close(); }

  private:
    /// Splits bytes into lines (a line cut at max_line counts as one, its rest dropped).
    void take(std::string_view bytes) {
        while (!bytes.empty()) {
            const auto end = bytes.find('\n');
            const auto part = bytes.substr(0, end);
            if (!skipping_) {
                line_.append(part.substr(0, ProgramOutput::max_line - line_.size()));
            }
            if (end == std::string_view::npos) {
                if (line_.size() >= ProgramOutput::max_line && !skipping_) {
                    emit();
                    skipping_ = true;
                }
                return;
            }
            if (!skipping_) {
                emit();
            }
            skipping_ = false;
            bytes.remove_prefix(end + 1);
        }
    }

    void emit() {
        if (!line_.empty() && line_.back() == '\r') {
            line_.pop_back();
        }
        const auto now = std::chrono::steady_clock::now();
        if (bucket_.take(now, ProgramOutput::lines_per_second, ProgramOutput::burst_lines)) {
            if (held_back_ > 0) {
                BOOST_LOG_TRIVIAL(warning)
                    << prefix_ << "(" << held_back_ << " lines not logged: more than "
                    << ProgramOutput::lines_per_second << " a second)";
                held_back_ = 0;
            }
            BOOST_LOG_TRIVIAL(info) << prefix_ << line_;
        } else {
            ++held_back_;
        }
        line_.clear();
    }

    void close() {
        if (!line_.empty()) {
            emit();
        }
        if (held_back_ > 0) {
            BOOST_LOG_TRIVIAL(warning) << prefix_ << "(" << held_back_ << " lines not logged)";
            held_back_ = 0;
        }
        boost::system::error_code ignored;
        pipe_.close(ignored);
    }

    boost::asio::posix::stream_descriptor pipe_;
    std::string prefix_;
    std::string line_;       ///< the line so far, at most max_line bytes
    bool skipping_ = false;  ///< the rest of a line cut at max_line
    std::array<char, 4096> buffer_{};
    TokenBucket bucket_;
    std::uint64_t held_back_ = 0;
};

}  // namespace

void ProgramOutput::read(const boost::asio::any_io_executor& executor, int fd, std::string prefix) {
    std::make_shared<PipeReader>(executor, fd, std::move(prefix))->do_read();
}

}  // namespace netd

// netd_test_server: netd with what the tests register through the public C++ API:
//
// the verifier `test_blocklist` (SPEC 5, `verify = test_blocklist`): refuses 127.0.0.2, and answers
// connections from 127.0.0.3 with the busy message, whatever the other verifiers say;
//
// the handler `faulty`, for the tests of fault containment (SPEC 4). It answers each line with the
// line, except:
//   "throw" -> the handler throws (contained in every mode: that connection is closed)
//   "crash" -> the handler aborts the process (contained in fork mode only: its child dies)
//   "pid"   -> the serving process's pid (tells a fork-mode child from the parent)
//   "tid"   -> the serving thread's id (tells pool-mode threads apart)
//   "hang"  -> the handler blocks for good (fork mode only: a child that cannot finish)
//   "stall" -> the handler blocks its thread for 2 s (a stuck event loop, for /healthz)
// With `start_error = system` its start() throws std::system_error, as a handler does when no
// thread can be had (a reload that meets it must keep the running config and its signals).

#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "daemon/daemon_main.hpp"
#include "handlers/line_framer.hpp"
#include "handlers/registry.hpp"
#include "verify/verify.hpp"

namespace {

void answer(std::string_view line, std::string_view line_end, netd::Output& out) {
    if (line == "throw") {
        throw std::runtime_error("faulty handler: asked to throw");
    }
    if (line == "crash") {
        std::abort();
    }
    if (line == "hang") {
        for (;;) {
            ::pause();
        }
    }
    if (line == "stall") {
        std::this_thread::sleep_for(std::chrono::seconds(2));
    }
    if (line == "pid" || line == "tid") {
        out.write(std::to_string(line == "pid" ? ::getpid() : ::gettid()));
    } else {
        out.write(line);
    }
    out.write(line_end);
}

class FaultySession final : public netd::StreamSession {
  public:
    void handle(std::string_view bytes, netd::Output& out) override {
        framer_.feed(bytes, [&](const netd::Line& line) { answer(line.text, line.ending, out); });
    }

  private:
    netd::LineFramer framer_{1024};
};

class FaultyHandler final : public netd::Handler {
  public:
    explicit FaultyHandler(bool start_error) : start_error_(start_error) {}

    void start() override {
        if (start_error_) {
            throw std::system_error(EAGAIN, std::generic_category(), "faulty handler: no thread");
        }
    }

    std::unique_ptr<netd::StreamSession> open_session(const netd::Peer& /*peer*/) override {
        return std::make_unique<FaultySession>();
    }
    void datagram(std::string_view bytes, const netd::Peer& /*peer*/, netd::Output& out) override {
        answer(bytes.substr(0, bytes.find('\n')), "", out);
    }

  private:
    bool start_error_;
};

constexpr std::array<netd::config::KeySpec, 1> faulty_keys{{
    {"start_error", "", "system: start() throws std::system_error"},
}};

class TestBlocklist final : public netd::Verifier {
  public:
    netd::Verdict verify(const netd::Peer& peer, bool /*stream*/) override {
        if (peer.transport != netd::Transport::tcp && peer.transport != netd::Transport::udp) {
            return netd::Verdict::accept;
        }
        const auto address = peer.address.to_string();
        if (address == "127.0.0.2") {
            return netd::Verdict::refuse;
        }
        return address == "127.0.0.3" ? netd::Verdict::busy : netd::Verdict::accept;
    }
};

}  // namespace

int main(int argc, char* argv[]) {
    netd::register_verifier(netd::VerifierSpec{
        .name = "test_blocklist",
        .summary = "test only: refuses 127.0.0.2, answers 127.0.0.3 with the busy message",
        .make = [](const netd::config::ServiceConfig& /*service*/)
            -> std::unique_ptr<netd::Verifier> { return std::make_unique<TestBlocklist>(); },
    });
    netd::register_handler(netd::HandlerSpec{
        .name = "faulty",
        .summary = "test only: echoes lines; 'throw' throws, 'crash' aborts, 'pid' tells the pid",
        .stream = true,
        .datagram = true,
        .keys = faulty_keys,
        .make = [](const netd::config::ServiceConfig& service) -> std::unique_ptr<netd::Handler> {
            return std::make_unique<FaultyHandler>(
                netd::parse_option(service, "start_error", [](const std::string& value) {
                    if (!value.empty() && value != "system") {
                        throw netd::config::ValueError("'" + value +
                                                       "' is neither empty nor system");
                    }
                    return value == "system";
                }));
        },
    });
    return netd::daemon_main(argc, argv);
}

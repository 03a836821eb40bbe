#include "daemon/systemd_protocol.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <string>

using namespace netd::systemd;

namespace {

/// Sets (or, with nullptr, unsets) an environment variable for one test.
class ScopedEnv {
  public:
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (value != nullptr) {
            ::setenv(name, value, 1);
        } else {
            ::unsetenv(name);
        }
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;
    ~ScopedEnv() { ::unsetenv(name_); }

  private:
    const char* name_;
};

const std::string own_pid = std::to_string(::getpid());

}  // namespace

BOOST_AUTO_TEST_SUITE(systemd_protocol)

BOOST_AUTO_TEST_CASE(journal_fields_as_text) {
    BOOST_TEST(journal_entry("[echo] listening on tcp 127.0.0.1:7", 6, "netd") ==
               "MESSAGE=[echo] listening on tcp 127.0.0.1:7\nPRIORITY=6\nSYSLOG_IDENTIFIER=netd\n");
    BOOST_TEST(journal_entry("", 3, "netd") == "MESSAGE=\nPRIORITY=3\nSYSLOG_IDENTIFIER=netd\n");
}

BOOST_AUTO_TEST_CASE(journal_value_with_a_newline_has_its_length) {
    const std::string entry = journal_entry("two\nlines", 4, "netd");
    const std::string length("\x09\0\0\0\0\0\0\0", 8);
    BOOST_TEST(entry == "MESSAGE\n" + length + "two\nlines\nPRIORITY=4\nSYSLOG_IDENTIFIER=netd\n");
}

BOOST_AUTO_TEST_CASE(fd_names) {
    BOOST_TEST(listen_fd_names(nullptr, 2) == (std::vector<std::string>{"unknown", "unknown"}));
    BOOST_TEST(listen_fd_names("echo.tcp:logger", 2) ==
               (std::vector<std::string>{"echo.tcp", "logger"}));
    BOOST_TEST(listen_fd_names("echo::", 3) == (std::vector<std::string>{"echo", "", ""}));
    BOOST_CHECK_THROW(listen_fd_names("echo", 2), std::runtime_error);
    BOOST_CHECK_THROW(listen_fd_names("a:b:c", 2), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(sockets_for_another_process_are_not_taken_and_the_variables_go) {
    const ScopedEnv pid("LISTEN_PID", "1");
    const ScopedEnv fds("LISTEN_FDS", "2");
    const ScopedEnv names("LISTEN_FDNAMES", "a:b");
    BOOST_TEST(take_listen_fds().empty());
    BOOST_TEST(std::getenv("LISTEN_PID") == nullptr);
    BOOST_TEST(std::getenv("LISTEN_FDS") == nullptr);
    BOOST_TEST(std::getenv("LISTEN_FDNAMES") == nullptr);
}

BOOST_AUTO_TEST_CASE(no_sockets_passed) {
    const ScopedEnv pid("LISTEN_PID", nullptr);
    BOOST_TEST(take_listen_fds().empty());
    const ScopedEnv ours("LISTEN_PID", own_pid.c_str());
    const ScopedEnv none("LISTEN_FDS", "0");
    BOOST_TEST(take_listen_fds().empty());
}

BOOST_AUTO_TEST_CASE(contradicting_variables_are_errors) {
    for (const char* count : {"x", "", "-1", "99999999"}) {
        const ScopedEnv pid("LISTEN_PID", own_pid.c_str());
        const ScopedEnv fds("LISTEN_FDS", count);
        BOOST_CHECK_THROW(take_listen_fds(), std::runtime_error);
        BOOST_TEST(std::getenv("LISTEN_PID") == nullptr);
    }
    const ScopedEnv pid("LISTEN_PID", own_pid.c_str());
    const ScopedEnv fds("LISTEN_FDS", "1");
    const ScopedEnv names("LISTEN_FDNAMES", "a:b");
    BOOST_CHECK_THROW(take_listen_fds(), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(passed_sockets_get_close_on_exec) {
    // fd 3 as a passed socket: a pipe's end moved there.
    int ends[2];
    BOOST_REQUIRE(::pipe(ends) == 0);
    const int saved = ::dup(listen_fds_start);
    BOOST_REQUIRE(::dup2(ends[0], listen_fds_start) == listen_fds_start);
    const ScopedEnv pid("LISTEN_PID", own_pid.c_str());
    const ScopedEnv fds("LISTEN_FDS", "1");
    const ScopedEnv names("LISTEN_FDNAMES", "echo.tcp");
    BOOST_TEST(take_listen_fds() == std::vector<std::string>{"echo.tcp"});
    BOOST_TEST((::fcntl(listen_fds_start, F_GETFD) & FD_CLOEXEC) != 0);
    if (saved >= 0) {
        ::dup2(saved, listen_fds_start);
        ::close(saved);
    } else {
        ::close(listen_fds_start);
    }
    ::close(ends[0]);
    ::close(ends[1]);
}

BOOST_AUTO_TEST_CASE(watchdog_for_this_process_only) {
    {
        const ScopedEnv usec("WATCHDOG_USEC", nullptr);
        BOOST_TEST(!watchdog_interval());
    }
    const ScopedEnv usec("WATCHDOG_USEC", "200000");
    {
        const ScopedEnv pid("WATCHDOG_PID", nullptr);
        BOOST_TEST(watchdog_interval().value_or(std::chrono::microseconds(0)).count() == 200000);
    }
    {
        const ScopedEnv pid("WATCHDOG_PID", own_pid.c_str());
        BOOST_TEST(watchdog_interval().value_or(std::chrono::microseconds(0)).count() == 200000);
    }
    {
        const ScopedEnv pid("WATCHDOG_PID", "1");
        BOOST_TEST(!watchdog_interval());
    }
    const ScopedEnv zero("WATCHDOG_USEC", "0");
    BOOST_TEST(!watchdog_interval());
}

BOOST_AUTO_TEST_CASE(no_notify_socket_is_not_an_error) {
    const ScopedEnv where("NOTIFY_SOCKET", nullptr);
    BOOST_TEST(notify("READY=1") == 0);
    const ScopedEnv odd("NOTIFY_SOCKET", "vsock:2:1234");
    BOOST_TEST(notify("READY=1") == EAFNOSUPPORT);
}

BOOST_AUTO_TEST_SUITE_END()

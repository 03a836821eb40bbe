// netd-bench: closed-loop TCP echo load generator (--mode echo, the default), connection-rate
// generator (--mode connect) and open-loop line sender for the logger service (--mode logger).
//
// --mode echo
// Single thread, level-triggered epoll. Each connection sends a --size byte payload,
// waits until the whole echo is back, verifies it byte for byte, records the latency
// and immediately sends the next one. Connections are opened before the clock starts;
// the first --warmup seconds are not measured; only requests completing inside the
// following --duration seconds are counted.
//
// --mode connect
// Like echo, but every request is a connection of its own: connect (non-blocking), send the
// payload, read the whole echo back, close, and connect again at once. A request's latency runs
// from the connect call to the last byte of the echo; requests/s is connections/s. The client
// closes first, so its side holds TIME_WAIT (Linux reuses those ports for loopback).
//
// Payload content: one pseudo-random pattern of size+256 bytes is generated up front;
// request k on connection c is the window starting at (c * 37 + k) % 256, so content
// differs between consecutive requests and between connections, yet verification is
// a plain memcmp (no per-request generation cost on the client).
//
// Errors (exit status 1): a mismatching or surplus byte, the peer closing, a socket
// error, a connect failure, or a request outstanding longer than --timeout. The
// failing connection is closed and the others continue.
//
// --mode logger
// Opens --connections connections, then sends --count lines in total, split evenly over
// them (connection c gets count/connections lines, plus one if c < count % connections),
// as fast as the sockets take them: up to 256 KiB per send(), nothing read back (the
// logger replies nothing). Line seq on connection c is "bench <c> <seq> xxx...x\n", padded
// with 'x' to exactly --size bytes including the LF, so every line is unique. After its
// last line a connection is shut down for writing and the client waits for the server to
// close it (EOF, or a reset). The send phase is timed from the first byte handed to the
// kernel to the last one.
// With --verify-file PATH it then reads PATH (as it grows) until every line sent is in
// it: a record is a line of the file containing the message text, after whatever fields
// the server puts in front of it. Each "bench <c> <seq>" must appear exactly once,
// followed by its padding and the end of the line. End-to-end time = first byte sent to
// the last write that completed the count: the file's mtime when the last missing record
// was read (so the client's own polling and parsing delay is not counted), cross-checked
// with the time the client saw it. After that it keeps reading for 1.5 s more to catch
// late duplicates. Records of one connection found out of order are counted ("order"),
// not errors: TCP keeps them in order, so a count above 0 is the server's doing.
// Errors (exit status 1): a connect failure, a socket error, any byte received from the
// server, the server closing before all lines were sent, no send progress or no close
// for --timeout seconds; with --verify-file, any record missing when --timeout seconds
// have passed, duplicated, malformed (the message text with a wrong number, wrong
// padding, or cut short). Lines of the file without the "bench " text are counted and
// reported, not errors.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string mode = "echo";
    std::string host = "127.0.0.1";
    std::string port;
    int connections = 50;
    size_t size = 64;
    double duration = 5.0;
    double warmup = 1.0;
    double timeout = 5.0;
    bool json = false;
    // logger mode
    uint64_t count = 0;
    std::string verify_file;
};

[[noreturn]] void usage(int status) {
    std::fprintf(status ? stderr : stdout,
                 "usage: netd-bench [--mode echo|connect] --port P [--host 127.0.0.1]\n"
                 "                  [--connections 50] [--size 64]\n"
                 "                  [--duration 5] [--warmup 1] [--timeout 5] [--json]\n"
                 "       netd-bench --mode logger --port P --count N [--host 127.0.0.1]\n"
                 "                  [--connections 8] [--size 100] [--verify-file PATH]\n"
                 "                  [--timeout 60] [--json]\n"
                 "  --mode MODE      echo (default): closed-loop echo load; connect: the same\n"
                 "                   with a new connection per request; logger: send lines\n"
                 "  --connections N  concurrent connections, one request in flight on each\n"
                 "                   (logger: lines are split evenly over them; default 8)\n"
                 "  --size BYTES     payload size per request (logger: bytes per line including\n"
                 "                   the LF; default 100)\n"
                 "  --duration SEC   measured window (echo only)\n"
                 "  --warmup SEC     unmeasured load before the window (echo only)\n"
                 "  --timeout SEC    a request outstanding longer than this is an error\n"
                 "                   (logger: longest wait for send progress, for the server\n"
                 "                   to close, and for the file to hold every line; default 60)\n"
                 "  --count N        logger: lines to send in total\n"
                 "  --verify-file F  logger: then wait until F holds every line sent, exactly\n"
                 "                   once, and report end-to-end lines/s\n"
                 "  --json           print the summary as one JSON object\n");
    std::exit(status);
}

double parse_num(const std::string& name, const std::string& v, double lo, double hi) {
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !(d >= lo && d <= hi)) {
        std::fprintf(stderr, "netd-bench: invalid value for --%s: '%s'\n", name.c_str(), v.c_str());
        usage(2);
    }
    return d;
}

Options parse_args(int argc, char** argv) {
    Options o;
    bool echo_only = false, logger_only = false, have_conns = false, have_size = false,
         have_timeout = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-h" || a == "--help")
            usage(0);
        if (a == "--json") {
            o.json = true;
            continue;
        }
        if (a.rfind("--", 0) != 0) {
            std::fprintf(stderr, "netd-bench: unexpected argument '%s'\n", a.c_str());
            usage(2);
        }
        std::string name = a.substr(2), val;
        if (auto eq = name.find('='); eq != std::string::npos) {
            val = name.substr(eq + 1);
            name.resize(eq);
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            std::fprintf(stderr, "netd-bench: --%s needs a value\n", name.c_str());
            usage(2);
        }
        if (name == "mode") {
            if (val != "echo" && val != "connect" && val != "logger") {
                std::fprintf(stderr,
                             "netd-bench: --mode must be echo, connect or logger, not '%s'\n",
                             val.c_str());
                usage(2);
            }
            o.mode = val;
        } else if (name == "host") {
            o.host = val;
        } else if (name == "port") {
            o.port = std::to_string(static_cast<int>(parse_num(name, val, 1, 65535)));
        } else if (name == "connections") {
            o.connections = static_cast<int>(parse_num(name, val, 1, 100000));
            have_conns = true;
        } else if (name == "size") {
            o.size = static_cast<size_t>(parse_num(name, val, 1, 1 << 30));
            have_size = true;
        } else if (name == "duration") {
            o.duration = parse_num(name, val, 0.001, 1e6);
            echo_only = true;
        } else if (name == "warmup") {
            o.warmup = parse_num(name, val, 0, 1e6);
            echo_only = true;
        } else if (name == "timeout") {
            o.timeout = parse_num(name, val, 0.001, 1e6);
            have_timeout = true;
        } else if (name == "count") {
            o.count = static_cast<uint64_t>(parse_num(name, val, 1, 1e12));
            logger_only = true;
        } else if (name == "verify-file") {
            if (val.empty()) {
                std::fprintf(stderr, "netd-bench: --verify-file needs a path\n");
                usage(2);
            }
            o.verify_file = val;
            logger_only = true;
        } else {
            std::fprintf(stderr, "netd-bench: unknown option --%s\n", name.c_str());
            usage(2);
        }
    }
    if (o.port.empty()) {
        std::fprintf(stderr, "netd-bench: --port is required\n");
        usage(2);
    }
    if (o.mode != "logger" && logger_only) {
        std::fprintf(stderr, "netd-bench: --count and --verify-file need --mode logger\n");
        usage(2);
    }
    if (o.mode == "logger") {
        if (echo_only) {
            std::fprintf(stderr,
                         "netd-bench: --duration and --warmup mean nothing in logger mode\n");
            usage(2);
        }
        if (o.count == 0) {
            std::fprintf(stderr, "netd-bench: --mode logger needs --count\n");
            usage(2);
        }
        if (!have_conns)
            o.connections = 8;
        if (!have_size)
            o.size = 100;
        if (!have_timeout)
            o.timeout = 60;
    }
    return o;
}

/// The server's address, resolved once.
struct Target {
    sockaddr_storage addr{};
    socklen_t len = 0;
    int family = AF_INET;
};

/// Resolves --host and --port; prints why not and returns false on failure.
bool resolve(const Options& o, Target& target) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (int rc = getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &res); rc != 0) {
        std::fprintf(stderr, "netd-bench: %s:%s: %s\n", o.host.c_str(), o.port.c_str(),
                     gai_strerror(rc));
        return false;
    }
    std::memcpy(&target.addr, res->ai_addr, res->ai_addrlen);
    target.len = res->ai_addrlen;
    target.family = res->ai_family;
    freeaddrinfo(res);
    return true;
}

/// A blocking connect to target, then made non-blocking; -1 (the error printed) on failure.
int connect_to(const Target& target, int id, bool nodelay) {
    int fd = socket(target.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&target.addr), target.len) < 0) {
        std::fprintf(stderr, "netd-bench: connect #%d: %s\n", id, std::strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (nodelay) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        std::perror("netd-bench: fcntl(O_NONBLOCK)");
        close(fd);
        return -1;
    }
    return fd;
}

/// A new epoll instance; exits on failure.
int make_epoll() {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        std::perror("epoll_create1");
        std::exit(1);
    }
    return ep;
}

/// epoll_ctl(op) for fd with events, tagged with the connection id; a failure is a bug: exit.
void watch(int ep, int op, int fd, int id, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u32 = static_cast<uint32_t>(id);
    if (epoll_ctl(ep, op, fd, &ev) < 0) {
        std::perror("netd-bench: epoll_ctl");
        std::exit(1);
    }
}

/// Wants EPOLLOUT on connection c (besides EPOLLIN) or not any more.
template <class Connection>
void set_out(int ep, Connection& c, bool on) {
    if (c.want_out == on)
        return;
    c.want_out = on;
    watch(ep, EPOLL_CTL_MOD, c.fd, c.id, EPOLLIN | (on ? EPOLLOUT : 0u));
}

struct Conn {
    int fd = -1;
    int id = 0;
    uint64_t seq = 0;              // requests started on this connection
    const char* expect = nullptr;  // payload of the request in flight
    size_t sent = 0;
    size_t received = 0;
    bool want_out = false;    // EPOLLOUT currently registered
    bool connecting = false;  // --mode connect: a non-blocking connect is under way
    Clock::time_point start;
};

struct Stats {
    uint64_t completed_total = 0;  // including warm-up
    uint64_t completed = 0;        // inside the measured window
    uint64_t mismatches = 0, conn_errors = 0, timeouts = 0;
    uint64_t recvs = 0, sends = 0, waits = 0;  // system calls, warm-up included
    std::vector<uint64_t> lat_ns;              // measured window only
};

double seconds(Clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

class Bench {
  public:
    explicit Bench(const Options& o) : opt_(o) {
        pattern_.resize(o.size + 256);
        uint64_t x = 0x9E3779B97F4A7C15ull;
        for (auto& b : pattern_) {  // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b = static_cast<char>(x >> 56);
        }
        scratch_.resize(std::max<size_t>(o.size, 64 * 1024));
        ep_ = make_epoll();
    }

    bool connect_all() {
        if (!resolve(opt_, target_))
            return false;
        conns_.resize(static_cast<size_t>(opt_.connections));
        for (int i = 0; i < opt_.connections; ++i) {
            Conn& c = conns_[static_cast<size_t>(i)];
            c.id = i;
            c.fd = connect_to(target_, i, true);
            if (c.fd < 0) {
                ++st_.conn_errors;
                continue;
            }
            watch(ep_, EPOLL_CTL_ADD, c.fd, i, EPOLLIN);
            ++live_;
        }
        return live_ > 0;
    }

    void run() {
        t0_ = Clock::now();
        win_start_ = t0_ + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(opt_.warmup));
        win_end_ = win_start_ + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(opt_.duration));
        auto timeout = std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(opt_.timeout));
        st_.lat_ns.reserve(1 << 20);
        for (auto& c : conns_)
            if (c.fd >= 0)
                start_request(c, t0_);

        bool in_window = opt_.warmup <= 0;
        if (in_window)
            cpu_start_ = cpu_seconds();
        Clock::time_point next_timeout_check = t0_;
        std::vector<epoll_event> events(conns_.size() + 1);
        Clock::time_point now;
        while (live_ > 0) {
            now = Clock::now();
            if (!in_window && now >= win_start_) {
                in_window = true;
                cpu_start_ = cpu_seconds();
            }
            if (now >= win_end_)
                break;
            if (now >= next_timeout_check) {
                for (auto& c : conns_) {
                    if (c.fd >= 0 && now - c.start > timeout) {
                        std::fprintf(stderr,
                                     "netd-bench: conn #%d: request %llu timed out "
                                     "(%zu/%zu bytes sent, %zu received)\n",
                                     c.id, static_cast<unsigned long long>(c.seq), c.sent,
                                     opt_.size, c.received);
                        ++st_.timeouts;
                        drop(c);
                    }
                }
                next_timeout_check = now + std::chrono::milliseconds(100);
            }
            auto wait = std::min(win_end_, next_timeout_check) - now;
            if (!in_window)
                wait = std::min(wait, win_start_ - now);
            int ms = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(wait).count());
            ++st_.waits;
            int n =
                epoll_wait(ep_, events.data(), static_cast<int>(events.size()), std::max(ms, 0));
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                std::perror("netd-bench: epoll_wait");
                std::exit(1);
            }
            for (int i = 0; i < n; ++i) {
                Conn& c = conns_[events[i].data.u32];
                if (c.fd < 0)
                    continue;
                uint32_t e = events[i].events;
                if (c.connecting) {
                    on_connected(c, Clock::now());
                    continue;
                }
                if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
                    on_readable(c);
                if (c.fd >= 0 && (e & EPOLLOUT))
                    on_writable(c);
            }
        }
        auto stop = Clock::now();
        if (in_window) {  // else every connection died during warm-up: nothing measured
            cpu_used_ = cpu_seconds() - cpu_start_;
            elapsed_ = std::max(0.0, seconds(std::min(stop, win_end_) - win_start_));
        }
        for (auto& c : conns_)
            if (c.fd >= 0)
                close(c.fd);
    }

    int report() {
        auto& v = st_.lat_ns;
        std::sort(v.begin(), v.end());
        auto pct = [&](double p) -> double {
            if (v.empty())
                return 0;
            size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
            return static_cast<double>(v[std::clamp<size_t>(rank, 1, v.size()) - 1]) / 1e3;
        };
        double mean = 0;
        for (auto x : v)
            mean += static_cast<double>(x);
        mean = v.empty() ? 0 : mean / static_cast<double>(v.size()) / 1e3;
        double rps = elapsed_ > 0 ? static_cast<double>(st_.completed) / elapsed_ : 0;
        double mbps = rps * static_cast<double>(opt_.size) / 1e6;
        uint64_t errors = st_.mismatches + st_.conn_errors + st_.timeouts;
        double cpu_pct = elapsed_ > 0 ? 100.0 * cpu_used_ / elapsed_ : 0;
        double per = st_.completed_total ? 1.0 / static_cast<double>(st_.completed_total) : 0;
        double recvs = static_cast<double>(st_.recvs) * per;
        double sends = static_cast<double>(st_.sends) * per;
        double waits = static_cast<double>(st_.waits) * per;
        if (opt_.json) {
            std::printf(
                "{\"mode\":\"%s\",\"host\":\"%s\",\"port\":%s,\"connections\":%d,\"size\":%zu,"
                "\"warmup_s\":%.3f,\"duration_s\":%.3f,\"requests\":%llu,"
                "\"requests_total\":%llu,\"requests_per_s\":%.1f,\"mb_per_s\":%.3f,"
                "\"latency_us\":{\"mean\":%.1f,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,"
                "\"p99_9\":%.1f,\"max\":%.1f},\"client_cpu_pct\":%.1f,\"client_cpu_s\":%.3f,"
                "\"client_calls_per_request\":{\"recv\":%.3f,\"send\":%.3f,\"epoll_wait\":%.3f},"
                "\"errors\":%llu,\"mismatches\":%llu,\"connection_errors\":%llu,\"timeouts\":%llu}"
                "\n",
                opt_.mode.c_str(), opt_.host.c_str(), opt_.port.c_str(), opt_.connections,
                opt_.size, opt_.warmup, elapsed_, ull(st_.completed), ull(st_.completed_total), rps,
                mbps, mean, pct(0.5), pct(0.9), pct(0.99), pct(0.999), pct(1.0), cpu_pct,
                cpu_seconds(), recvs, sends, waits, ull(errors), ull(st_.mismatches),
                ull(st_.conn_errors), ull(st_.timeouts));
        } else {
            std::printf("target:      %s:%s, %d connections, %zu-byte payload\n", opt_.host.c_str(),
                        opt_.port.c_str(), opt_.connections, opt_.size);
            std::printf("window:      %.3f s measured after %.3f s warm-up\n", elapsed_,
                        opt_.warmup);
            std::printf("requests:    %llu (%llu incl. warm-up)\n", ull(st_.completed),
                        ull(st_.completed_total));
            std::printf("throughput:  %.1f %s/s, %.3f MB/s payload echoed (MB = 1e6 B)\n", rps,
                        opt_.mode == "connect" ? "connections" : "requests", mbps);
            std::printf(
                "latency us:  mean %.1f  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  "
                "max %.1f\n",
                mean, pct(0.5), pct(0.9), pct(0.99), pct(0.999), pct(1.0));
            std::printf(
                "client cpu:  %.1f%% of one core; per request %.2f recv, %.2f send, "
                "%.2f epoll_wait calls\n",
                cpu_pct, recvs, sends, waits);
            std::printf(
                "errors:      %llu (mismatches %llu, connection errors %llu, "
                "timeouts %llu)\n",
                ull(errors), ull(st_.mismatches), ull(st_.conn_errors), ull(st_.timeouts));
        }
        std::fflush(stdout);
        return errors == 0 && st_.completed > 0 ? 0 : 1;
    }

  private:
    static unsigned long long ull(uint64_t x) { return static_cast<unsigned long long>(x); }

    void drop(Conn& c) {
        close(c.fd);  // also removes it from the epoll set
        c.fd = -1;
        --live_;
    }

    void start_request(Conn& c, Clock::time_point now) {
        c.expect = pattern_.data() + (static_cast<uint64_t>(c.id) * 37 + c.seq) % 256;
        ++c.seq;
        c.sent = c.received = 0;
        c.start = now;
        on_writable(c);
    }

    void on_writable(Conn& c) {
        while (c.sent < opt_.size) {
            ++st_.sends;
            ssize_t w = send(c.fd, c.expect + c.sent, opt_.size - c.sent, MSG_NOSIGNAL);
            if (w > 0) {
                c.sent += static_cast<size_t>(w);
            } else if (w < 0 && errno == EINTR) {
                continue;
            } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                set_out(ep_, c, true);
                return;
            } else {
                std::fprintf(stderr, "netd-bench: conn #%d: send: %s\n", c.id,
                             std::strerror(errno));
                ++st_.conn_errors;
                drop(c);
                return;
            }
        }
        set_out(ep_, c, false);
    }

    void on_readable(Conn& c) {
        ++st_.recvs;
        ssize_t r = recv(c.fd, scratch_.data(), scratch_.size(), 0);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (r <= 0) {
            if (r == 0)
                std::fprintf(stderr,
                             "netd-bench: conn #%d: closed by peer (%zu/%zu bytes "
                             "of request %llu echoed)\n",
                             c.id, c.received, opt_.size, ull(c.seq));
            else
                std::fprintf(stderr, "netd-bench: conn #%d: recv: %s\n", c.id,
                             std::strerror(errno));
            ++st_.conn_errors;
            drop(c);
            return;
        }
        size_t n = static_cast<size_t>(r);
        if (c.received + n > c.sent ||
            std::memcmp(scratch_.data(), c.expect + c.received, n) != 0) {
            size_t at = c.received;
            if (c.received + n <= c.sent)
                while (scratch_[at - c.received] == c.expect[at])
                    ++at;
            else
                at = c.sent;
            std::fprintf(stderr,
                         "netd-bench: conn #%d: request %llu: wrong echo at byte %zu "
                         "(%zu bytes sent so far)\n",
                         c.id, ull(c.seq), at, c.sent);
            ++st_.mismatches;
            drop(c);
            return;
        }
        c.received += n;
        if (c.received < opt_.size)
            return;
        auto t = Clock::now();
        ++st_.completed_total;
        if (t >= win_start_ && t < win_end_) {
            ++st_.completed;
            st_.lat_ns.push_back(static_cast<uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(t - c.start).count()));
        }
        if (opt_.mode == "connect") {
            return reconnect(c, t);
        }
        start_request(c, t);
    }

    /// --mode connect: the request is done; close and open a new connection for the next.
    void reconnect(Conn& c, Clock::time_point now) {
        close(c.fd);
        c.want_out = false;
        c.start = now;
        c.fd = socket(target_.family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (c.fd < 0 ||
            (::connect(c.fd, reinterpret_cast<const sockaddr*>(&target_.addr), target_.len) < 0 &&
             errno != EINPROGRESS)) {
            std::fprintf(stderr, "netd-bench: conn #%d: connect: %s\n", c.id, std::strerror(errno));
            ++st_.conn_errors;
            if (c.fd >= 0)
                close(c.fd);
            c.fd = -1;
            --live_;
            return;
        }
        int one = 1;
        setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c.connecting = true;
        watch(ep_, EPOLL_CTL_ADD, c.fd, c.id, EPOLLOUT);
    }

    /// --mode connect: the connect finished (or failed); send the request.
    void on_connected(Conn& c, Clock::time_point now) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
            std::fprintf(stderr, "netd-bench: conn #%d: connect: %s\n", c.id,
                         std::strerror(err != 0 ? err : errno));
            ++st_.conn_errors;
            drop(c);
            return;
        }
        c.connecting = false;
        c.want_out = true;  // registered for EPOLLOUT only: on_writable's set_out puts EPOLLIN back
        const auto started = c.start;
        start_request(c, now);
        c.start = started;  // latency includes the connect
    }

    Options opt_;
    std::vector<char> pattern_, scratch_;
    Target target_;
    std::vector<Conn> conns_;
    int ep_ = -1;
    int live_ = 0;
    Stats st_;
    Clock::time_point t0_, win_start_, win_end_;
    double cpu_start_ = 0, cpu_used_ = 0, elapsed_ = 0;
};

// --mode logger: see the comment at the top of the file.
class LoggerBench {
  public:
    explicit LoggerBench(const Options& o) : opt_(o) {
        ep_ = make_epoll();
        auto n = static_cast<uint64_t>(o.connections);
        conns_.resize(static_cast<size_t>(o.connections));
        uint64_t base = 0;
        for (uint64_t i = 0; i < n; ++i) {
            LConn& c = conns_[i];
            c.id = static_cast<int>(i);
            c.lines = o.count / n + (i < o.count % n ? 1 : 0);
            c.base = base;
            base += c.lines;
        }
    }

    // The longest line header must leave room for at least one 'x' and the LF.
    bool check_size() const {
        uint64_t max_seq = conns_[0].lines ? conns_[0].lines - 1 : 0;
        size_t header =
            6 + digits(static_cast<uint64_t>(opt_.connections - 1)) + 1 + digits(max_seq) + 1;
        if (opt_.size < header + 2) {
            std::fprintf(stderr,
                         "netd-bench: --size %zu is too small for lines like "
                         "\"bench %d %llu x\\n\" (at least %zu bytes)\n",
                         opt_.size, opt_.connections - 1, ull(max_seq), header + 2);
            return false;
        }
        return true;
    }

    bool connect_all() {
        Target target;
        if (!resolve(opt_, target))
            return false;
        bool ok = true;
        for (auto& c : conns_) {
            c.fd = connect_to(target, c.id, false);
            if (c.fd < 0) {
                ok = false;
                break;
            }
            c.buf.resize(std::max<size_t>(opt_.size, kChunk / opt_.size * opt_.size));
            c.size = opt_.size;
            watch(ep_, EPOLL_CTL_ADD, c.fd, c.id, EPOLLIN);
            ++live_;
        }
        // Every line is accounted for by a connection: a missing one would make the count
        // wrong, so one failed connect fails the run before anything is sent.
        if (!ok)
            ++conn_errors_;
        return ok;
    }

    // Send phase and close phase.
    void run() {
        auto timeout = std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(opt_.timeout));
        cpu_start_ = cpu_seconds();
        clock_gettime(CLOCK_REALTIME, &real_first_);
        t_first_ = last_progress_ = Clock::now();
        sending_ = live_;
        for (auto& c : conns_)
            pump(c);
        std::vector<epoll_event> events(conns_.size() + 1);
        while (live_ > 0) {
            auto now = Clock::now();
            if (now - last_progress_ > timeout) {
                for (auto& c : conns_) {
                    if (c.fd < 0)
                        continue;
                    if (!c.shut)
                        std::fprintf(stderr,
                                     "netd-bench: conn #%d: no send progress for %.1f s "
                                     "(%llu/%llu lines sent)\n",
                                     c.id, opt_.timeout, ull(c.sent_lines()), ull(c.lines));
                    else
                        std::fprintf(stderr,
                                     "netd-bench: conn #%d: server did not close the connection "
                                     "within %.1f s of the client's shutdown\n",
                                     c.id, opt_.timeout);
                    ++timeouts_;
                    drop(c);
                }
                break;
            }
            int ms = static_cast<int>(
                std::chrono::ceil<std::chrono::milliseconds>(last_progress_ + timeout - now)
                    .count());
            int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()),
                               std::clamp(ms, 0, 1000));
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                std::perror("netd-bench: epoll_wait");
                std::exit(1);
            }
            for (int i = 0; i < n; ++i) {
                LConn& c = conns_[events[i].data.u32];
                if (c.fd < 0)
                    continue;
                uint32_t e = events[i].events;
                if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
                    on_readable(c);
                if (c.fd >= 0 && (e & EPOLLOUT))
                    pump(c);
            }
        }
        t_closed_ = Clock::now();
        cpu_run_ = cpu_seconds() - cpu_start_;
        if (t_sent_ == Clock::time_point{})  // some connection never finished
            t_sent_ = t_closed_;
    }

    // Reads the file until every line sent is in it (or --timeout), then 1.5 s more.
    void verify() {
        seen_.assign(opt_.count, 0);
        auto timeout = std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double>(opt_.timeout));
        auto settle = std::chrono::milliseconds(1500);
        auto start = Clock::now();
        int fd = -1;
        std::vector<char> buf(1 << 20);
        size_t have = 0;  // bytes of an incomplete last line at the front of buf
        Clock::time_point done_at{};
        bool done = false;
        for (;;) {
            auto now = Clock::now();
            if (done ? now - done_at >= settle : now - start >= timeout)
                break;
            if (fd < 0) {
                fd = open(opt_.verify_file.c_str(), O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                    if (errno != ENOENT) {
                        std::fprintf(stderr, "netd-bench: %s: %s\n", opt_.verify_file.c_str(),
                                     std::strerror(errno));
                        ++file_errors_;
                        break;
                    }
                    usleep(2000);
                    continue;
                }
            }
            bool got = false;
            for (;;) {
                if (have == buf.size())
                    buf.resize(buf.size() * 2);  // a line longer than the buffer
                ssize_t r = read(fd, buf.data() + have, buf.size() - have);
                if (r < 0 && errno == EINTR)
                    continue;
                if (r < 0) {
                    std::fprintf(stderr, "netd-bench: read %s: %s\n", opt_.verify_file.c_str(),
                                 std::strerror(errno));
                    ++file_errors_;
                    break;
                }
                if (r == 0)
                    break;
                got = true;
                file_bytes_ += static_cast<uint64_t>(r);
                size_t end = have + static_cast<size_t>(r);
                auto seen_at = Clock::now();
                struct stat stt {};
                bool have_stat = false;
                uint64_t before = unique_;
                const char* p = buf.data();
                const char* e = buf.data() + end;
                while (const char* nl = static_cast<const char*>(std::memchr(p, '\n', e - p))) {
                    on_line(p, nl);
                    p = nl + 1;
                }
                have = static_cast<size_t>(e - p);
                std::memmove(buf.data(), p, have);
                if (!done && before < opt_.count && unique_ == opt_.count) {
                    // The write that completed the count happened before this read returned
                    // and at or before the file's current mtime (the time of the last write
                    // so far; a server writes nothing more once every line is in).
                    have_stat = fstat(fd, &stt) == 0;
                    done = true;
                    done_at = seen_at;
                    e2e_observed_ = seconds(seen_at - t_first_);
                    if (have_stat) {
                        double m =
                            static_cast<double>(stt.st_mtim.tv_sec - real_first_.tv_sec) +
                            static_cast<double>(stt.st_mtim.tv_nsec - real_first_.tv_nsec) / 1e9;
                        if (m > 0 && m <= e2e_observed_ + 0.001)
                            e2e_mtime_ = m;
                    }
                }
            }
            if (file_errors_)
                break;
            if (!got)
                usleep(2000);
        }
        if (have > 0)
            ++partial_tail_;  // an unterminated last line
        if (fd >= 0)
            close(fd);
    }

    int report() {
        double send_s = seconds(t_sent_ - t_first_);
        double close_s = seconds(t_closed_ - t_first_);
        uint64_t sent = 0;
        for (auto& c : conns_)
            sent += c.sent_lines();
        double send_lps = send_s > 0 ? static_cast<double>(sent) / send_s : 0;
        double send_mbps = send_lps * static_cast<double>(opt_.size) / 1e6;
        bool verify = !opt_.verify_file.empty();
        uint64_t missing = verify ? opt_.count - unique_ : 0;
        double e2e_s = e2e_mtime_ > 0 ? e2e_mtime_ : e2e_observed_;
        double e2e_lps = e2e_s > 0 ? static_cast<double>(opt_.count) / e2e_s : 0;
        uint64_t errors = conn_errors_ + timeouts_ + unexpected_ + early_close_ + file_errors_ +
                          missing + duplicates_ + malformed_ + (sent != opt_.count ? 1 : 0);
        double cpu = cpu_seconds() - cpu_start_;
        if (opt_.json) {
            std::printf(
                "{\"mode\":\"logger\",\"host\":\"%s\",\"port\":%s,\"connections\":%d,\"size\":%zu,"
                "\"count\":%llu,\"sent\":%llu,\"send_s\":%.6f,\"send_lines_per_s\":%.1f,"
                "\"send_mb_per_s\":%.3f,\"closed_s\":%.6f",
                opt_.host.c_str(), opt_.port.c_str(), opt_.connections, opt_.size, ull(opt_.count),
                ull(sent), send_s, send_lps, send_mbps, close_s);
            if (verify)
                std::printf(
                    ",\"verify_file\":\"%s\",\"e2e_s\":%.6f,\"e2e_lines_per_s\":%.1f,"
                    "\"e2e_source\":\"%s\",\"e2e_observed_s\":%.6f,\"records\":%llu,"
                    "\"missing\":%llu,\"duplicates\":%llu,\"malformed\":%llu,\"other_lines\":%llu,"
                    "\"unterminated\":%llu,\"reordered\":%llu,\"file_bytes\":%llu",
                    json_escape(opt_.verify_file).c_str(), e2e_s, e2e_lps,
                    e2e_mtime_ > 0 ? "mtime" : (e2e_observed_ > 0 ? "observed" : "none"),
                    e2e_observed_, ull(unique_), ull(missing), ull(duplicates_), ull(malformed_),
                    ull(foreign_), ull(partial_tail_), ull(reordered_), ull(file_bytes_));
            std::printf(
                ",\"client_cpu_s\":%.3f,\"client_send_cpu_s\":%.3f,\"errors\":%llu,"
                "\"connection_errors\":%llu,"
                "\"timeouts\":%llu,\"replies\":%llu,\"early_closes\":%llu,"
                "\"resets\":%llu}\n",
                cpu, cpu_run_, ull(errors), ull(conn_errors_), ull(timeouts_), ull(unexpected_),
                ull(early_close_), ull(resets_));
        } else {
            std::printf("target:      %s:%s, %d connections, %zu-byte lines, %llu lines\n",
                        opt_.host.c_str(), opt_.port.c_str(), opt_.connections, opt_.size,
                        ull(opt_.count));
            std::printf(
                "send:        %llu lines in %.3f s: %.1f lines/s, %.3f MB/s "
                "(first to last byte handed to the kernel)\n",
                ull(sent), send_s, send_lps, send_mbps);
            std::printf(
                "closed:      %.3f s after the first byte, the server had closed every "
                "connection\n",
                close_s);
            if (verify) {
                if (e2e_s > 0)
                    std::printf(
                        "end-to-end:  all %llu lines in %s %.3f s after the first byte: "
                        "%.1f lines/s (%s; seen by the client after %.3f s)\n",
                        ull(opt_.count), opt_.verify_file.c_str(), e2e_s, e2e_lps,
                        e2e_mtime_ > 0 ? "last write, from the file's mtime"
                                       : "when the client saw it",
                        e2e_observed_);
                else
                    std::printf("end-to-end:  %s never held all %llu lines within %.1f s\n",
                                opt_.verify_file.c_str(), ull(opt_.count), opt_.timeout);
                std::printf(
                    "verify:      %llu records, %llu missing, %llu duplicated, "
                    "%llu malformed; %llu other lines, %llu unterminated; %llu bytes\n",
                    ull(unique_), ull(missing), ull(duplicates_), ull(malformed_), ull(foreign_),
                    ull(partial_tail_), ull(file_bytes_));
                std::printf("order:       %llu records behind a later line of their connection\n",
                            ull(reordered_));
            }
            std::printf(
                "client cpu:  %.3f s, %.3f s of it until the server had closed every "
                "connection\n",
                cpu, cpu_run_);
            std::printf(
                "errors:      %llu (connection errors %llu, timeouts %llu, "
                "connections with replies %llu, early closes %llu, missing %llu, duplicated %llu, "
                "malformed %llu)\n",
                ull(errors), ull(conn_errors_), ull(timeouts_), ull(unexpected_), ull(early_close_),
                ull(missing), ull(duplicates_), ull(malformed_));
        }
        std::fflush(stdout);
        if (verify && foreign_ > 0)
            std::fprintf(stderr, "netd-bench: %llu lines of %s hold no \"bench \" text\n",
                         ull(foreign_), opt_.verify_file.c_str());
        return errors == 0 ? 0 : 1;
    }

  private:
    static constexpr size_t kChunk = 256 * 1024;  // bytes per send(), whole lines

    struct LConn {
        int fd = -1;
        int id = 0;
        uint64_t lines = 0;  // lines this connection sends
        uint64_t base = 0;   // index of its line 0 among all lines
        uint64_t next = 0;   // next line to format into buf
        std::vector<char> buf;
        size_t len = 0, off = 0;  // formatted bytes in buf, bytes of them sent
        bool shut = false;        // everything sent, write side shut down
        bool want_out = false;
        bool replied = false;    // the server sent something on it
        bool any_seen = false;   // verification: a record of it was found
        uint64_t last_seen = 0;  // verification: seq of its last record in file order
        size_t size = 0;
        // Lines handed to the kernel completely.
        uint64_t sent_lines() const { return shut ? lines : next - (len - off + size - 1) / size; }
    };

    static unsigned long long ull(uint64_t x) { return static_cast<unsigned long long>(x); }

    static size_t digits(uint64_t v) {
        size_t n = 1;
        while (v >= 10) {
            v /= 10;
            ++n;
        }
        return n;
    }

    static std::string json_escape(const std::string& s) {
        std::string o;
        for (char ch : s) {
            if (ch == '"' || ch == '\\')
                o += '\\';
            o += ch;
        }
        return o;
    }

    void drop(LConn& c) {
        if (!c.shut && --sending_ == 0)
            t_sent_ = Clock::now();
        close(c.fd);
        c.fd = -1;
        --live_;
    }

    // Formats the next lines of c into its buffer: "bench <id> <seq> " + 'x'... + LF.
    void fill(LConn& c) {
        char* b = c.buf.data();
        size_t cap = c.buf.size(), len = 0;
        char id[16];
        char* id_end = std::to_chars(id, id + sizeof id, c.id).ptr;
        while (c.next < c.lines && len + opt_.size <= cap) {
            char* p = b + len;
            char* q = p;
            std::memcpy(q, "bench ", 6);
            q += 6;
            std::memcpy(q, id, static_cast<size_t>(id_end - id));
            q += id_end - id;
            *q++ = ' ';
            q = std::to_chars(q, q + 20, c.next).ptr;
            *q++ = ' ';
            std::memset(q, 'x', static_cast<size_t>(p + opt_.size - 1 - q));
            p[opt_.size - 1] = '\n';
            len += opt_.size;
            ++c.next;
        }
        c.len = len;
        c.off = 0;
    }

    // Sends until the socket is full or this connection has sent everything.
    void pump(LConn& c) {
        while (!c.shut) {
            if (c.off == c.len) {
                if (c.next == c.lines) {
                    shutdown(c.fd, SHUT_WR);
                    c.shut = true;
                    set_out(ep_, c, false);
                    if (--sending_ == 0)
                        t_sent_ = Clock::now();
                    return;
                }
                fill(c);
            }
            ssize_t w = send(c.fd, c.buf.data() + c.off, c.len - c.off, MSG_NOSIGNAL);
            if (w > 0) {
                c.off += static_cast<size_t>(w);
                last_progress_ = Clock::now();
            } else if (w < 0 && errno == EINTR) {
                continue;
            } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                set_out(ep_, c, true);
                return;
            } else {
                std::fprintf(stderr, "netd-bench: conn #%d: send: %s\n", c.id,
                             std::strerror(errno));
                ++conn_errors_;
                drop(c);
                return;
            }
        }
    }

    void on_readable(LConn& c) {
        char tmp[4096];
        ssize_t r = recv(c.fd, tmp, sizeof tmp, 0);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (r > 0) {  // the logger replies nothing
            if (!c.replied) {
                c.replied = true;
                ++unexpected_;
                for (ssize_t i = 0; i < r; ++i)
                    if (tmp[i] < 0x20 || tmp[i] > 0x7e)
                        tmp[i] = '.';
                std::fprintf(stderr, "netd-bench: conn #%d: the server sent data: \"%.*s\"\n", c.id,
                             static_cast<int>(std::min<ssize_t>(r, 80)), tmp);
            }
            return;
        }
        if (!c.shut) {
            std::fprintf(
                stderr, "netd-bench: conn #%d: %s before all lines were sent (%llu/%llu)\n", c.id,
                r == 0 ? "closed by the server" : std::strerror(errno), ull(c.next), ull(c.lines));
            ++early_close_;
        } else if (r < 0) {
            ++resets_;  // closed after our shutdown, with a reset: counted, not an error
        }
        last_progress_ = Clock::now();
        drop(c);
    }

    // One line of the file, without its LF.
    void on_line(const char* b, const char* e) {
        static constexpr char kTag[] = "bench ";
        const char* p = b;
        bool tagged = false;
        while (const char* t =
                   static_cast<const char*>(memmem(p, static_cast<size_t>(e - p), kTag, 6))) {
            tagged = true;
            const char* q = t + 6;
            uint64_t conn = 0, seq = 0;
            auto r1 = std::from_chars(q, e, conn);
            if (r1.ec == std::errc{} && r1.ptr < e && *r1.ptr == ' ') {
                auto r2 = std::from_chars(r1.ptr + 1, e, seq);
                if (r2.ec == std::errc{} && r2.ptr < e && *r2.ptr == ' ' &&
                    static_cast<size_t>(e - t) + 1 == opt_.size &&
                    conn < static_cast<uint64_t>(opt_.connections) && seq < conns_[conn].lines) {
                    const char* x = r2.ptr + 1;
                    while (x < e && *x == 'x')
                        ++x;
                    if (x == e) {
                        uint8_t& s = seen_[conns_[conn].base + seq];
                        if (s == 0) {
                            s = 1;
                            ++unique_;
                            LConn& lc = conns_[conn];
                            if (lc.any_seen && seq < lc.last_seen)
                                ++reordered_;
                            lc.any_seen = true;
                            lc.last_seen = seq;
                        } else {
                            if (duplicates_ < 5)
                                bad_line("duplicate", b, e);
                            ++duplicates_;
                        }
                        return;
                    }
                }
            }
            p = t + 1;
        }
        if (tagged) {
            if (malformed_ < 5)
                bad_line("malformed", b, e);
            ++malformed_;
        } else {
            if (foreign_ < 3)
                bad_line("other", b, e);
            ++foreign_;
        }
    }

    void bad_line(const char* what, const char* b, const char* e) {
        std::fprintf(stderr, "netd-bench: %s line in %s (%zu bytes): \"%.*s%s\"\n", what,
                     opt_.verify_file.c_str(), static_cast<size_t>(e - b),
                     static_cast<int>(std::min<ptrdiff_t>(e - b, 160)), b,
                     e - b > 160 ? "..." : "");
    }

    Options opt_;
    std::vector<LConn> conns_;
    int ep_ = -1;
    int live_ = 0, sending_ = 0;
    Clock::time_point t_first_, t_sent_, t_closed_, last_progress_;
    timespec real_first_{};
    double cpu_start_ = 0, cpu_run_ = 0;  // client CPU: start, used by send + close phases
    uint64_t conn_errors_ = 0, timeouts_ = 0, unexpected_ = 0, early_close_ = 0, resets_ = 0;
    // verification
    std::vector<uint8_t> seen_;
    uint64_t unique_ = 0, reordered_ = 0, duplicates_ = 0, malformed_ = 0, foreign_ = 0,
             partial_tail_ = 0;
    uint64_t file_errors_ = 0, file_bytes_ = 0;
    double e2e_mtime_ = 0, e2e_observed_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
    signal(SIGPIPE, SIG_IGN);
    Options opt = parse_args(argc, argv);
    if (opt.mode == "logger") {
        LoggerBench lb(opt);
        if (!lb.check_size())
            return 2;
        if (!lb.connect_all()) {
            std::fprintf(stderr, "netd-bench: could not open all %d connections\n",
                         opt.connections);
            return 1;
        }
        lb.run();
        if (!opt.verify_file.empty())
            lb.verify();
        return lb.report();
    }
    Bench b(opt);
    if (!b.connect_all()) {
        std::fprintf(stderr, "netd-bench: no connection could be opened\n");
        return 1;
    }
    b.run();
    return b.report();
}

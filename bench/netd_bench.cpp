// netd-bench: closed-loop TCP echo load generator.
//
// Single thread, level-triggered epoll. Each connection sends a --size byte payload,
// waits until the whole echo is back, verifies it byte for byte, records the latency
// and immediately sends the next one. Connections are opened before the clock starts;
// the first --warmup seconds are not measured; only requests completing inside the
// following --duration seconds are counted.
//
// Payload content: one pseudo-random pattern of size+256 bytes is generated up front;
// request k on connection c is the window starting at (c * 37 + k) % 256, so content
// differs between consecutive requests and between connections, yet verification is
// a plain memcmp (no per-request generation cost on the client).
//
// Errors (exit status 1): a mismatching or surplus byte, the peer closing, a socket
// error, a connect failure, or a request outstanding longer than --timeout. The
// failing connection is closed and the others continue.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string host = "127.0.0.1";
    std::string port;
    int connections = 50;
    size_t size = 64;
    double duration = 5.0;
    double warmup = 1.0;
    double timeout = 5.0;
    bool json = false;
};

[[noreturn]] void usage(int status) {
    std::fprintf(status ? stderr : stdout,
                 "usage: netd-bench --port P [--host 127.0.0.1] [--connections 50] [--size 64]\n"
                 "                  [--duration 5] [--warmup 1] [--timeout 5] [--json]\n"
                 "  --connections N  concurrent connections, one request in flight on each\n"
                 "  --size BYTES     payload size per request\n"
                 "  --duration SEC   measured window\n"
                 "  --warmup SEC     unmeasured load before the window\n"
                 "  --timeout SEC    a request outstanding longer than this is an error\n"
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
        if (name == "host") {
            o.host = val;
        } else if (name == "port") {
            o.port = std::to_string(static_cast<int>(parse_num(name, val, 1, 65535)));
        } else if (name == "connections") {
            o.connections = static_cast<int>(parse_num(name, val, 1, 100000));
        } else if (name == "size") {
            o.size = static_cast<size_t>(parse_num(name, val, 1, 1 << 30));
        } else if (name == "duration") {
            o.duration = parse_num(name, val, 0.001, 1e6);
        } else if (name == "warmup") {
            o.warmup = parse_num(name, val, 0, 1e6);
        } else if (name == "timeout") {
            o.timeout = parse_num(name, val, 0.001, 1e6);
        } else {
            std::fprintf(stderr, "netd-bench: unknown option --%s\n", name.c_str());
            usage(2);
        }
    }
    if (o.port.empty()) {
        std::fprintf(stderr, "netd-bench: --port is required\n");
        usage(2);
    }
    return o;
}

struct Conn {
    int fd = -1;
    int id = 0;
    uint64_t seq = 0;              // requests started on this connection
    const char* expect = nullptr;  // payload of the request in flight
    size_t sent = 0;
    size_t received = 0;
    bool want_out = false;  // EPOLLOUT currently registered
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
        ep_ = epoll_create1(EPOLL_CLOEXEC);
        if (ep_ < 0) {
            std::perror("epoll_create1");
            std::exit(1);
        }
    }

    bool connect_all() {
        addrinfo hints{}, *res = nullptr;
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        if (int rc = getaddrinfo(opt_.host.c_str(), opt_.port.c_str(), &hints, &res); rc != 0) {
            std::fprintf(stderr, "netd-bench: %s:%s: %s\n", opt_.host.c_str(), opt_.port.c_str(),
                         gai_strerror(rc));
            return false;
        }
        conns_.resize(static_cast<size_t>(opt_.connections));
        for (int i = 0; i < opt_.connections; ++i) {
            Conn& c = conns_[static_cast<size_t>(i)];
            c.id = i;
            int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0 || ::connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
                std::fprintf(stderr, "netd-bench: connect #%d: %s\n", i, std::strerror(errno));
                if (fd >= 0)
                    close(fd);
                ++st_.conn_errors;
                continue;
            }
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            int fl = fcntl(fd, F_GETFL);
            if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
                std::perror("netd-bench: fcntl(O_NONBLOCK)");
                close(fd);
                ++st_.conn_errors;
                continue;
            }
            c.fd = fd;
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u32 = static_cast<uint32_t>(i);
            if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) < 0) {
                std::perror("netd-bench: epoll_ctl");
                std::exit(1);
            }
            ++live_;
        }
        freeaddrinfo(res);
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
                "{\"host\":\"%s\",\"port\":%s,\"connections\":%d,\"size\":%zu,"
                "\"warmup_s\":%.3f,\"duration_s\":%.3f,\"requests\":%llu,"
                "\"requests_total\":%llu,\"requests_per_s\":%.1f,\"mb_per_s\":%.3f,"
                "\"latency_us\":{\"mean\":%.1f,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,"
                "\"p99_9\":%.1f,\"max\":%.1f},\"client_cpu_pct\":%.1f,\"client_cpu_s\":%.3f,"
                "\"client_calls_per_request\":{\"recv\":%.3f,\"send\":%.3f,\"epoll_wait\":%.3f},"
                "\"errors\":%llu,\"mismatches\":%llu,\"connection_errors\":%llu,\"timeouts\":%llu}"
                "\n",
                opt_.host.c_str(), opt_.port.c_str(), opt_.connections, opt_.size, opt_.warmup,
                elapsed_, ull(st_.completed), ull(st_.completed_total), rps, mbps, mean, pct(0.5),
                pct(0.9), pct(0.99), pct(0.999), pct(1.0), cpu_pct, cpu_seconds(), recvs, sends,
                waits, ull(errors), ull(st_.mismatches), ull(st_.conn_errors), ull(st_.timeouts));
        } else {
            std::printf("target:      %s:%s, %d connections, %zu-byte payload\n", opt_.host.c_str(),
                        opt_.port.c_str(), opt_.connections, opt_.size);
            std::printf("window:      %.3f s measured after %.3f s warm-up\n", elapsed_,
                        opt_.warmup);
            std::printf("requests:    %llu (%llu incl. warm-up)\n", ull(st_.completed),
                        ull(st_.completed_total));
            std::printf("throughput:  %.1f requests/s, %.3f MB/s payload echoed (MB = 1e6 B)\n",
                        rps, mbps);
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

    void set_out(Conn& c, bool on) {
        if (c.want_out == on)
            return;
        c.want_out = on;
        epoll_event ev{};
        ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
        ev.data.u32 = static_cast<uint32_t>(c.id);
        if (epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev) < 0) {
            std::perror("netd-bench: epoll_ctl");
            std::exit(1);
        }
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
                set_out(c, true);
                return;
            } else {
                std::fprintf(stderr, "netd-bench: conn #%d: send: %s\n", c.id,
                             std::strerror(errno));
                ++st_.conn_errors;
                drop(c);
                return;
            }
        }
        set_out(c, false);
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
        start_request(c, t);
    }

    Options opt_;
    std::vector<char> pattern_, scratch_;
    std::vector<Conn> conns_;
    int ep_ = -1;
    int live_ = 0;
    Stats st_;
    Clock::time_point t0_, win_start_, win_end_;
    double cpu_start_ = 0, cpu_used_ = 0, elapsed_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
    signal(SIGPIPE, SIG_IGN);
    Options opt = parse_args(argc, argv);
    Bench b(opt);
    if (!b.connect_all()) {
        std::fprintf(stderr, "netd-bench: no connection could be opened\n");
        return 1;
    }
    b.run();
    return b.report();
}

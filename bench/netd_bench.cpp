// netd-bench: load generator and verifier for netd's services, in the spirit of
// redis-benchmark. Single thread, level-triggered epoll; every reply is checked byte for byte.
//
// Modes (--mode):
//   echo      TCP echo (the default). A request is a --size byte payload; its reply must be the
//             same bytes.
//   connect   Like echo, but every request is a connection of its own: connect (non-blocking),
//             send the payload, read the whole echo back, close. A request's latency includes
//             the connect; requests/s is connections/s. The client closes first, so its side
//             holds TIME_WAIT (Linux reuses those ports for loopback).
//   udp-echo  UDP echo over --connections connected UDP sockets. A request is one datagram of
//             --size bytes; its reply must be the same datagram. The first min(8, size) bytes
//             carry the request's sequence number (little endian), so a reply is matched to its
//             request even out of order. A datagram not answered within --timeout is lost: an
//             error, and the socket carries on. A reply to a datagram already counted as lost
//             is counted as late (not a second error).
//   timefmt   TCP timefmt. A request is the line "--format LF"; its reply line must equal C
//             strftime(format) of some second from when the request's first byte was sent to
//             when the reply was read, in UTC or in the client's local time (--utc: UTC only).
//   chargen   TCP chargen (RFC 864): nothing is sent; a request is the next --size bytes the
//             server streams, which must continue the RFC's pattern (72-character lines, each
//             starting one printable character further). Latency is the time to receive them.
//   logger    Open-loop line sender for the logger service (see "--mode logger" below).
//
// --tls (echo, connect, timefmt, chargen): the same over TLS (OpenSSL, the version the server
// prefers), the server's certificate checked against --tls-ca if given (else not at all: a
// load generator). Persistent connections do their handshake before the run; in connect mode
// every request is a new connection with a full handshake (no session is resumed), and the
// client sends close_notify before it closes. Bytes and latencies are of the plaintext.
//
// Payload content (echo, connect, udp-echo): one pseudo-random pattern of size+256 bytes is
// generated up front; request seq on connection c is the window starting at
// (c * 37 + seq) % 256, so content differs between consecutive requests and between
// connections, yet verification is a plain memcmp (no per-request generation cost).
//
// Load shape (echo, connect, udp-echo, timefmt):
//   Closed loop (the default): each connection keeps --pipeline requests in flight (connect:
//   one); a completed request lets the next one go at once. Latency runs from handing the
//   request to its connection to the last byte of its reply.
//   Open loop (--rate R): request g (g = 0, 1, ...) is due at start + g / R and goes to
//   connection g % connections (the next live one if that one failed). It is sent at its due
//   time if its connection has fewer than --pipeline requests in flight, else as soon as one
//   completes. Its latency runs from its due time, so a server that falls behind shows it in
//   the latency rather than slowing the client down (no coordinated omission).
//   Length: --warmup seconds of unmeasured load, then --duration seconds in which completed
//   requests are counted; or --count requests in total, all measured, no warm-up (the run ends
//   once every one has completed, failed or been lost).
//
// Errors (exit status 1): a wrong or surplus byte or datagram, the peer closing, a socket
// error, a connect failure, a TCP request outstanding longer than --timeout (its connection
// is then closed and the others carry on), a lost datagram; also a run that completed nothing.
// A wrong timefmt line is counted and the connection carries on (the line framing is intact);
// a wrong echo byte closes its connection (the stream cannot be resynchronised).
//
// Output: a progress line on stderr once a second (rewritten in place on a terminal;
// --quiet: none), then a summary on stdout: requests/s, MB/s (reply bytes / 1e6), latency
// percentiles, errors; with --json one JSON object instead.
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
// With --unixgram PATH instead of --host/--port, each "connection" is a Unix datagram socket
// connected to PATH (a /dev/log stand-in) and every line is a datagram of its own, LF
// included, as syslog(3) and util-linux logger send them. The kernel holds at most
// net.unix.max_dgram_qlen of them in the server's socket and then blocks the sender, so
// nothing is lost and the send phase runs at the server's pace; after its last line a
// socket is closed (there is nothing to wait for): "closed" is when the last line was
// handed to the kernel.
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
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <set>
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
    uint64_t count = 0;  // requests (logger: lines) in total; 0 = run for --duration
    int pipeline = 1;
    double rate = 0;  // requests/s over all connections; 0 = closed loop
    std::string format = "%Y-%m-%d %H:%M:%S";
    bool utc = false;
    bool json = false;
    bool proxy_v2 = false;
    bool quiet = false;
    std::string verify_file;
    std::string unixgram;  // logger: send datagrams to this Unix socket instead of TCP
    bool tls = false;      // TLS over the TCP connections
    std::string tls_ca;    // --tls: check the server's certificate against this CA file
};

[[noreturn]] void usage(int status) {
    std::fprintf(status ? stderr : stdout,
                 "usage: netd-bench [--mode echo|connect|udp-echo|timefmt|chargen] --port P\n"
                 "                  [--host 127.0.0.1] [--connections 50] [--size 64]\n"
                 "                  [--duration 5 --warmup 1 | --count N] [--pipeline 1]\n"
                 "                  [--rate R] [--format F] [--utc] [--timeout 5]\n"
                 "                  [--tls [--tls-ca FILE]] [--json] [--quiet]\n"
                 "       netd-bench --mode logger --port P --count N [--host 127.0.0.1]\n"
                 "                  [--connections 8] [--size 100] [--verify-file PATH]\n"
                 "                  [--timeout 60] [--json] [--quiet]\n"
                 "       netd-bench --mode logger --unixgram PATH --count N [--connections 8]\n"
                 "                  [--size 100] [--verify-file PATH]\n"
                 "                  [--timeout 60] [--json] [--quiet]\n"
                 "  --mode MODE      echo (default): TCP echo; connect: the same with a new\n"
                 "                   connection per request; udp-echo: one datagram per request;\n"
                 "                   timefmt: a strftime format line per request, the reply\n"
                 "                   checked against the client's own strftime; chargen:\n"
                 "                   --size bytes of the server's RFC 864 stream per request;\n"
                 "                   logger: send lines\n"
                 "  --connections N  concurrent connections (udp-echo: sockets); logger: lines\n"
                 "                   are split evenly over them (default 8)\n"
                 "  --size BYTES     payload per request (logger: bytes per line including the\n"
                 "                   LF; default 100); not for timefmt, whose request is --format\n"
                 "  --duration SEC   measured window\n"
                 "  --warmup SEC     unmeasured load before the window\n"
                 "  --count N        requests in total, all measured, instead of --duration\n"
                 "                   (logger: lines to send, required)\n"
                 "  --pipeline N     requests in flight per connection (echo, udp-echo,\n"
                 "                   timefmt; default 1)\n"
                 "  --rate R         open loop: R requests/s in total, spread over the\n"
                 "                   connections; latency counts from each request's due time\n"
                 "  --format F       timefmt: the strftime format sent (default\n"
                 "                   \"%%Y-%%m-%%d %%H:%%M:%%S\")\n"
                 "  --utc            timefmt: accept only UTC answers (default: UTC or local)\n"
                 "  --timeout SEC    a request outstanding longer than this is an error\n"
                 "                   (udp-echo: the datagram is lost; logger: longest wait for\n"
                 "                   send progress, for the server to close, and for the file\n"
                 "                   to hold every line; default 60)\n"
                 "  --verify-file F  logger: then wait until F holds every line sent, exactly\n"
                 "                   once, and report end-to-end lines/s\n"
                 "  --unixgram PATH  logger: each line a datagram to this Unix datagram socket,\n"
                 "                   over --connections sockets (instead of --host, --port)\n"
                 "  --proxy-v2       connect: each connection begins with a PROXY protocol v2\n"
                 "                   header naming the client's own address (a balancer's\n"
                 "                   send-proxy-v2), sent with the request (before TLS)\n"
                 "  --tls            echo, connect, timefmt, chargen over TLS (connect: a full\n"
                 "                   handshake per request)\n"
                 "  --tls-ca FILE    --tls: check the server's certificate (name: --host)\n"
                 "  --json           print the summary as one JSON object\n"
                 "  --quiet          no progress line on stderr\n");
    std::exit(status);
}

/// "netd-bench: " and the message on a line of its own on stderr.
void print_problem(const char* fmt, va_list ap) __attribute__((format(printf, 1, 0)));
void print_problem(const char* fmt, va_list ap) {
    std::fputs("netd-bench: ", stderr);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
}

[[noreturn]] void bad_usage(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] void bad_usage(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    print_problem(fmt, ap);
    va_end(ap);
    usage(2);
}

double parse_num(const std::string& name, const std::string& v, double lo, double hi) {
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !(d >= lo && d <= hi))
        bad_usage("invalid value for --%s: '%s'", name.c_str(), v.c_str());
    return d;
}

/// Options that mean something in some modes only, and those modes.
struct ModeOption {
    const char* option;
    const char* modes;
};
constexpr ModeOption kModeOptions[] = {
    {"duration", " echo connect udp-echo timefmt chargen "},
    {"warmup", " echo connect udp-echo timefmt chargen "},
    {"pipeline", " echo udp-echo timefmt chargen "},
    {"rate", " echo connect udp-echo timefmt chargen "},
    {"size", " echo connect udp-echo logger chargen "},
    {"format", " timefmt "},
    {"utc", " timefmt "},
    {"verify-file", " logger "},
    {"unixgram", " logger "},
    {"proxy-v2", " connect "},
    {"tls", " echo connect timefmt chargen "},
    {"tls-ca", " echo connect timefmt chargen "},
};
constexpr const char* kModes = " echo connect udp-echo timefmt chargen logger ";

bool in_list(const char* list, const std::string& word) {
    return std::strstr(list, (" " + word + " ").c_str()) != nullptr;
}

Options parse_args(int argc, char** argv) {
    Options o;
    std::set<std::string> given;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-h" || a == "--help")
            usage(0);
        if (a.rfind("--", 0) != 0)
            bad_usage("unexpected argument '%s'", a.c_str());
        std::string name = a.substr(2), val;
        given.insert(name.substr(0, name.find('=')));
        if (name == "proxy-v2") {
            o.proxy_v2 = true;
            continue;
        }
        if (name == "json" || name == "quiet" || name == "utc" || name == "tls") {
            (name == "json"    ? o.json
             : name == "quiet" ? o.quiet
             : name == "utc"   ? o.utc
                               : o.tls) = true;
            continue;
        }
        if (auto eq = name.find('='); eq != std::string::npos) {
            val = name.substr(eq + 1);
            name.resize(eq);
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            bad_usage("--%s needs a value", name.c_str());
        }
        if (name == "mode") {
            if (!in_list(kModes, val))
                bad_usage(
                    "--mode must be echo, connect, udp-echo, timefmt, chargen or logger, not '%s'",
                    val.c_str());
            o.mode = val;
        } else if (name == "host") {
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
        } else if (name == "count") {
            o.count = static_cast<uint64_t>(parse_num(name, val, 1, 1e12));
        } else if (name == "pipeline") {
            o.pipeline = static_cast<int>(parse_num(name, val, 1, 100000));
        } else if (name == "rate") {
            o.rate = parse_num(name, val, 0.001, 1e9);
        } else if (name == "format") {
            if (val.empty() || val.find_first_of("\r\n") != std::string::npos)
                bad_usage("--format must be a non-empty format without line ends");
            o.format = val;
        } else if (name == "verify-file") {
            if (val.empty())
                bad_usage("--verify-file needs a path");
            o.verify_file = val;
        } else if (name == "tls-ca") {
            if (val.empty())
                bad_usage("--tls-ca needs a path");
            o.tls_ca = val;
        } else if (name == "unixgram") {
            if (val.empty() || val.size() >= sizeof(sockaddr_un{}.sun_path))
                bad_usage("--unixgram needs a Unix socket path (at most %zu bytes)",
                          sizeof(sockaddr_un{}.sun_path) - 1);
            o.unixgram = val;
        } else {
            bad_usage("unknown option --%s", name.c_str());
        }
    }
    if (!o.unixgram.empty() && (given.count("port") || given.count("host")))
        bad_usage("--unixgram and --host/--port exclude each other");
    if (o.port.empty() && o.unixgram.empty())
        bad_usage("--port is required");
    if (!o.tls_ca.empty() && !o.tls)
        bad_usage("--tls-ca means nothing without --tls");
    for (const auto& m : kModeOptions)
        if (given.count(m.option) && !in_list(m.modes, o.mode))
            bad_usage("--%s means nothing in --mode %s", m.option, o.mode.c_str());
    if (o.mode == "logger") {
        if (o.count == 0)
            bad_usage("--mode logger needs --count");
        if (!given.count("connections"))
            o.connections = 8;
        if (!given.count("size"))
            o.size = 100;
        if (!given.count("timeout"))
            o.timeout = 60;
        return o;
    }
    if (o.count > 0 && (given.count("duration") || given.count("warmup")))
        bad_usage("--count and --duration/--warmup exclude each other");
    if (o.count > 0)
        o.warmup = 0;
    if (o.mode == "udp-echo" && o.size > 65507)
        bad_usage("--size: a UDP datagram holds at most 65507 bytes");
    if (o.mode == "timefmt")
        o.size = o.format.size() + 1;
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

/// The Unix socket at path as a Target.
Target unix_target(const std::string& path) {
    Target target;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    std::memcpy(&target.addr, &address, sizeof address);
    target.len = sizeof address;
    target.family = AF_UNIX;
    return target;
}

/// A blocking connect to target with a socket of this type, then made non-blocking; -1 (the
/// error printed) on failure. A UDP socket's connect only fixes its peer.
int connect_to(const Target& target, int id, int type, bool nodelay) {
    int fd = socket(target.family, type | SOCK_CLOEXEC, 0);
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

/// epoll_ctl(op) for fd with events, tagged with tag; a failure is a bug: exit.
void watch(int ep, int op, int fd, uint64_t tag, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag;
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
    watch(ep, EPOLL_CTL_MOD, c.fd, c.tag(), EPOLLIN | (on ? EPOLLOUT : 0u));
}

double seconds(Clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

Clock::duration to_duration(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

double cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

unsigned long long ull(uint64_t x) {
    return static_cast<unsigned long long>(x);
}

std::string json_escape(const std::string& s) {
    std::string o;
    for (char ch : s) {
        if (ch == '"' || ch == '\\')
            o += '\\';
        o += ch;
    }
    return o;
}

/// --tls: the client context (nullptr, the reason printed, when it cannot be made). Partial
/// writes, as netd-bench's own writes are partial anyway; read ahead, so that a read takes what
/// the socket holds rather than one record header and one record.
SSL_CTX* make_tls_context(const Options& o) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == nullptr) {
        std::fprintf(stderr, "netd-bench: SSL_CTX_new: %s\n",
                     ERR_error_string(ERR_get_error(), nullptr));
        return nullptr;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1);
    if (o.tls_ca.empty()) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    } else if (SSL_CTX_load_verify_locations(ctx, o.tls_ca.c_str(), nullptr) != 1) {
        std::fprintf(stderr, "netd-bench: --tls-ca %s: %s\n", o.tls_ca.c_str(),
                     ERR_error_string(ERR_get_error(), nullptr));
        SSL_CTX_free(ctx);
        return nullptr;
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    }
    return ctx;
}

/// The progress line on stderr, once a second: rewritten in place on a terminal, one line
/// each otherwise; nothing with --quiet.
class Progress {
  public:
    explicit Progress(bool quiet) : on_(!quiet), tty_(isatty(STDERR_FILENO) == 1) {}

    /// The first line is due one second after start.
    void start(Clock::time_point now) { next_ = now + std::chrono::seconds(1); }

    /// True once a second (then print a line).
    bool due(Clock::time_point now) {
        if (!on_ || now < next_)
            return false;
        next_ += std::chrono::seconds(1);
        if (next_ <= now)
            next_ = now + std::chrono::seconds(1);
        return true;
    }

    void print(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
        char line[256];
        va_list ap;
        va_start(ap, fmt);
        std::vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
        std::fprintf(stderr, tty_ ? "\r%s\033[K" : "%s\n", line);
        shown_ = true;
    }

    /// Clears a terminal's progress line before the summary.
    void finish() {
        if (tty_ && shown_)
            std::fputs("\r\033[K", stderr);
        shown_ = false;
    }

  private:
    bool on_, tty_;
    bool shown_ = false;
    Clock::time_point next_;
};

/// One request of the request/response modes.
struct Request {
    uint64_t seq = 0;
    Clock::time_point due;     // latency runs from here (open loop: its scheduled time)
    Clock::time_point issued;  // handed to its connection; --timeout runs from here
    time_t wall_sent = 0;      // timefmt: the earliest second its answer may show
    bool stamped = false;      // wall_sent is set (the first byte went out)
};

/// One connection (udp-echo: one connected UDP socket) of the request/response modes.
struct Conn {
    int fd = -1;
    int id = 0;
    uint32_t generation = 0;   // bumped per socket, so events of a closed one are told apart
    bool alive = true;         // false once it failed: it takes no more requests
    bool want_out = false;     // EPOLLOUT currently registered
    bool connecting = false;   // --mode connect: a non-blocking connect is under way
    SSL* ssl = nullptr;        // --tls: the connection's TLS state
    bool handshaking = false;  // --tls, --mode connect: the handshake is under way
    uint64_t next_seq = 0;
    std::deque<Request> inflight;                 // issued, reply not complete; in issue order
    size_t unsent = 0;                            // inflight[unsent..] are not completely sent
    size_t send_off = 0;                          // stream: bytes of inflight[unsent] sent
    size_t recv_off = 0;                          // echo: bytes of inflight[0]'s echo received
    uint64_t bytes_sent = 0, bytes_received = 0;  // stream, this socket: surplus check
    std::string line;                             // timefmt: the reply line so far
    std::deque<Clock::time_point> backlog;        // --rate: due requests waiting for room
    uint64_t tag() const {
        return static_cast<uint64_t>(generation) << 32 | static_cast<uint32_t>(id);
    }
};

struct Stats {
    uint64_t completed_total = 0;  // including warm-up
    uint64_t completed = 0;        // inside the measured window
    uint64_t reply_bytes = 0;      // inside the measured window
    uint64_t mismatches = 0, conn_errors = 0, timeouts = 0, lost = 0;
    uint64_t late = 0, refused = 0;            // udp-echo; not errors by themselves
    uint64_t recvs = 0, sends = 0, waits = 0;  // system calls, warm-up included
    std::vector<uint64_t> lat_ns;              // measured window only
    uint64_t errors() const { return mismatches + conn_errors + timeouts + lost; }
};

// The request/response modes: echo, connect, udp-echo, timefmt. See the top of the file.
class Bench {
  public:
    explicit Bench(const Options& o)
        : opt_(o),
          udp_(o.mode == "udp-echo"),
          connect_mode_(o.mode == "connect"),
          timefmt_(o.mode == "timefmt"),
          chargen_(o.mode == "chargen"),
          progress_(o.quiet) {
        pattern_.resize(o.size + 256);
        uint64_t x = 0x9E3779B97F4A7C15ull;
        for (auto& b : pattern_) {  // xorshift64
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b = static_cast<char>(x >> 56);
        }
        if (chargen_) {
            // RFC 864: line n is 72 printable characters from ' ' + n (mod 95), then CRLF; the
            // stream repeats every 95 lines. One cycle, and enough after it for any window.
            pattern_.clear();
            for (size_t line = 0; pattern_.size() < kChargenCycle + o.size; ++line) {
                for (size_t i = 0; i < 72; ++i)
                    pattern_.push_back(static_cast<char>(' ' + (line + i) % 95));
                pattern_.push_back('\r');
                pattern_.push_back('\n');
            }
        }
        scratch_.resize(std::max<size_t>(o.size + 1, 64 * 1024));
        datagram_.resize(o.size);
        request_line_ = o.format + "\n";
        header_bytes_ = std::min<size_t>(8, o.size);
        if (timefmt_)
            tzset();
        if (o.rate > 0)  // wake at a request's due time, not up to 50 us after it
            prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
        ep_ = make_epoll();
        if (o.tls)
            tls_out_.resize(kTlsRecord);
    }

    ~Bench() {
        if (tls_ctx_ != nullptr)
            SSL_CTX_free(tls_ctx_);
    }
    Bench(const Bench&) = delete;
    Bench& operator=(const Bench&) = delete;

    bool connect_all() {
        if (!resolve(opt_, target_))
            return false;
        if (opt_.tls && (tls_ctx_ = make_tls_context(opt_)) == nullptr)
            return false;
        conns_.resize(static_cast<size_t>(opt_.connections));
        for (int i = 0; i < opt_.connections; ++i) {
            Conn& c = conns_[static_cast<size_t>(i)];
            c.id = i;
            c.fd = connect_to(target_, i, udp_ ? SOCK_DGRAM : SOCK_STREAM, !udp_);
            if (c.fd < 0) {
                ++st_.conn_errors;
                c.alive = false;
                continue;
            }
            watch(ep_, EPOLL_CTL_ADD, c.fd, c.tag(), EPOLLIN);
            ++live_;
            // connect mode's first connection of each is made here: it begins with the header
            // as every later one does (on_connected), and the TLS handshake follows it.
            if (opt_.proxy_v2 && !send_proxy_header(c))
                continue;
            if (tls_ctx_ != nullptr && !handshake_now(c)) {
                ++st_.conn_errors;
                fail(c);
            }
        }
        return live_ > 0;
    }

    void run() {
        t0_ = Clock::now();
        counted_ = opt_.count > 0;
        win_start_ = t0_ + to_duration(opt_.warmup);
        win_end_ = counted_ ? Clock::time_point::max() : win_start_ + to_duration(opt_.duration);
        st_.lat_ns.reserve(1 << 20);
        progress_.start(t0_);
        bool in_window = opt_.warmup <= 0;
        if (in_window)
            cpu_start_ = cpu_seconds();
        if (opt_.rate <= 0)
            for (auto& c : conns_)
                refill(c, t0_);

        Clock::time_point next_check = t0_ + kCheckEvery;
        std::vector<epoll_event> events(conns_.size() + 1);
        Clock::time_point now;
        while (live_ > 0) {
            now = Clock::now();
            if (!in_window && now >= win_start_) {
                in_window = true;
                cpu_start_ = cpu_seconds();
            }
            if (counted_ ? issued_ == opt_.count && outstanding_ == 0 : now >= win_end_)
                break;
            Clock::time_point wake = std::min(win_end_, next_check);
            if (!in_window)
                wake = std::min(wake, win_start_);
            if (opt_.rate > 0)
                wake = std::min(wake, release_due(now));
            if (now >= next_check) {
                check_timeouts(now);
                if (progress_.due(now))
                    show_progress(now);
                next_check = now + kCheckEvery;
                continue;
            }
            // Nanoseconds, not epoll_wait's milliseconds: --rate's due times need them.
            auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wake - now).count();
            timespec wait{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
            ++st_.waits;
            int n =
                epoll_pwait2(ep_, events.data(), static_cast<int>(events.size()), &wait, nullptr);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                std::perror("netd-bench: epoll_wait");
                std::exit(1);
            }
            now = Clock::now();
            for (int i = 0; i < n; ++i) {
                Conn& c = conns_[static_cast<uint32_t>(events[i].data.u64)];
                if (!c.alive || c.fd < 0 || events[i].data.u64 != c.tag())
                    continue;  // failed, closed, or an event of its previous socket
                uint32_t e = events[i].events;
                if (c.connecting) {
                    on_connected(c);
                    continue;
                }
                if (c.handshaking) {
                    continue_handshake(c);
                    continue;
                }
                if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
                    on_readable(c, now);
                if (c.alive && c.fd >= 0 && (e & EPOLLOUT))
                    send_pending(c);
            }
        }
        auto stop = Clock::now();
        progress_.finish();
        if (in_window) {  // else every connection died during warm-up: nothing measured
            cpu_used_ = cpu_seconds() - cpu_start_;
            elapsed_ = std::max(0.0, seconds(std::min(stop, win_end_) - win_start_));
        }
        for (auto& c : conns_)
            if (c.fd >= 0)
                close_connection(c);
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
        double mbps = elapsed_ > 0 ? static_cast<double>(st_.reply_bytes) / elapsed_ / 1e6 : 0;
        uint64_t errors = st_.errors();
        double cpu_pct = elapsed_ > 0 ? 100.0 * cpu_used_ / elapsed_ : 0;
        double per = st_.completed_total ? 1.0 / static_cast<double>(st_.completed_total) : 0;
        double recvs = static_cast<double>(st_.recvs) * per;
        double sends = static_cast<double>(st_.sends) * per;
        double waits = static_cast<double>(st_.waits) * per;
        if (opt_.json) {
            std::printf(
                "{\"mode\":\"%s\",\"host\":\"%s\",\"port\":%s,\"connections\":%d,\"size\":%zu,"
                "\"pipeline\":%d,\"rate\":%.3f,\"count\":%llu,"
                "\"warmup_s\":%.3f,\"duration_s\":%.3f,\"requests\":%llu,"
                "\"requests_total\":%llu,\"requests_per_s\":%.1f,\"mb_per_s\":%.3f,"
                "\"latency_us\":{\"mean\":%.1f,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,"
                "\"p99_9\":%.1f,\"max\":%.1f},\"client_cpu_pct\":%.1f,\"client_cpu_s\":%.3f,"
                "\"client_calls_per_request\":{\"recv\":%.3f,\"send\":%.3f,\"epoll_wait\":%.3f},"
                "\"errors\":%llu,\"mismatches\":%llu,\"connection_errors\":%llu,\"timeouts\":%llu,"
                "\"lost\":%llu,\"late\":%llu,\"refused\":%llu",
                opt_.mode.c_str(), opt_.host.c_str(), opt_.port.c_str(), opt_.connections,
                opt_.size, opt_.pipeline, opt_.rate, ull(opt_.count), opt_.warmup, elapsed_,
                ull(st_.completed), ull(st_.completed_total), rps, mbps, mean, pct(0.5), pct(0.9),
                pct(0.99), pct(0.999), pct(1.0), cpu_pct, cpu_seconds(), recvs, sends, waits,
                ull(errors), ull(st_.mismatches), ull(st_.conn_errors), ull(st_.timeouts),
                ull(st_.lost), ull(st_.late), ull(st_.refused));
            if (timefmt_)
                std::printf(",\"format\":\"%s\",\"utc_only\":%s", json_escape(opt_.format).c_str(),
                            opt_.utc ? "true" : "false");
            std::printf(",\"tls\":%s", opt_.tls ? "true" : "false");
            std::printf("}\n");
        } else {
            std::printf("target:      %s:%s %s, %d %s, ", opt_.host.c_str(), opt_.port.c_str(),
                        opt_.mode.c_str(), opt_.connections, udp_ ? "sockets" : "connections");
            if (timefmt_)
                std::printf("format \"%s\"", opt_.format.c_str());
            else
                std::printf("%zu-byte payload", opt_.size);
            std::printf(", %d in flight each", connect_mode_ ? 1 : opt_.pipeline);
            if (opt_.tls)
                std::printf(", TLS%s", connect_mode_ ? " (a full handshake each)" : "");
            if (opt_.rate > 0)
                std::printf(", open loop at %.1f requests/s", opt_.rate);
            std::printf("\n");
            if (counted_)
                std::printf("window:      %.3f s for --count %llu requests\n", elapsed_,
                            ull(opt_.count));
            else
                std::printf("window:      %.3f s measured after %.3f s warm-up\n", elapsed_,
                            opt_.warmup);
            if (counted_)
                std::printf("requests:    %llu\n", ull(st_.completed));
            else
                std::printf("requests:    %llu (%llu incl. warm-up)\n", ull(st_.completed),
                            ull(st_.completed_total));
            std::printf("throughput:  %.1f %s/s, %.3f MB/s of replies (MB = 1e6 B)\n", rps,
                        connect_mode_ ? "connections" : "requests", mbps);
            std::printf(
                "latency us:  mean %.1f  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  "
                "max %.1f\n",
                mean, pct(0.5), pct(0.9), pct(0.99), pct(0.999), pct(1.0));
            std::printf(
                "client cpu:  %.1f%% of one core; per request %.2f recv, %.2f send, "
                "%.2f epoll_wait calls\n",
                cpu_pct, recvs, sends, waits);
            std::printf(
                "errors:      %llu (mismatches %llu, connection errors %llu, timeouts %llu, "
                "lost datagrams %llu)\n",
                ull(errors), ull(st_.mismatches), ull(st_.conn_errors), ull(st_.timeouts),
                ull(st_.lost));
            if (udp_)
                std::printf("udp:         %llu late replies, %llu refused (ICMP unreachable)\n",
                            ull(st_.late), ull(st_.refused));
        }
        std::fflush(stdout);
        if (complaints_ > kMaxComplaints)
            std::fprintf(stderr, "netd-bench: %llu more problems not shown\n",
                         ull(complaints_ - kMaxComplaints));
        return errors == 0 && st_.completed > 0 ? 0 : 1;
    }

  private:
    static constexpr auto kCheckEvery = std::chrono::milliseconds(100);
    static constexpr int kMaxIov = 64;                // requests per sendmsg
    static constexpr size_t kChargenCycle = 95 * 74;  // chargen: bytes until the lines repeat
    static constexpr size_t kMaxReplyLine = 4096;     // timefmt: longer is an error
    static constexpr uint64_t kMaxComplaints = 10;    // problems printed on stderr
    static constexpr int kDatagramsPerWakeup = 64;    // udp-echo: then let others run
    static constexpr size_t kTlsRecord = 16384;       // --tls: plaintext per SSL_write

    /// Prints the first kMaxComplaints problems of the run on stderr.
    void complain(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
        if (++complaints_ > kMaxComplaints)
            return;
        progress_.finish();
        va_list ap;
        va_start(ap, fmt);
        print_problem(fmt, ap);
        va_end(ap);
    }

    void show_progress(Clock::time_point now) {
        uint64_t done = st_.completed_total - progress_done_;
        progress_done_ = st_.completed_total;
        char count[48] = "";
        if (counted_)
            std::snprintf(count, sizeof count, " of %llu", ull(opt_.count));
        progress_.print(
            "netd-bench: %5.1f s%s  %9llu req/s  %llu done%s  %llu in flight  %llu errors",
            seconds(now - t0_), now < win_start_ ? " (warm-up)" : "", ull(done),
            ull(st_.completed_total), count, ull(outstanding_), ull(st_.errors()));
    }

    /// A system call on c failed with err: counted, and c closed. EPROTO is a TLS failure
    /// (tls_reason_ says which).
    void connection_error(Conn& c, const char* call, int err) {
        complain("%s #%d: %s: %s", udp_ ? "socket" : "conn", c.id, call,
                 err == EPROTO && tls_ctx_ != nullptr ? tls_reason_.c_str() : std::strerror(err));
        ++st_.conn_errors;
        fail(c);
    }

    /// --tls: c's TLS state over its connected socket; false if it cannot be made.
    bool start_tls(Conn& c) {
        c.ssl = SSL_new(tls_ctx_);
        if (c.ssl == nullptr || SSL_set_fd(c.ssl, c.fd) != 1) {
            tls_reason_ = ERR_error_string(ERR_get_error(), nullptr);
            return false;
        }
        SSL_set_connect_state(c.ssl);
        SSL_set_tlsext_host_name(c.ssl, opt_.host.c_str());
        if (!opt_.tls_ca.empty())
            SSL_set1_host(c.ssl, opt_.host.c_str());
        return true;
    }

    /// What an SSL call on c that failed wants: -1 with errno EAGAIN to wait (EPOLLOUT asked
    /// for if it wants to write), 0 for the server's close_notify, -1 with EPROTO (the reason
    /// in tls_reason_) or the system's errno for a failure.
    ssize_t tls_failure(Conn& c, int result) {
        const int err = SSL_get_error(c.ssl, result);
        const int saved = errno;
        switch (err) {
            case SSL_ERROR_WANT_WRITE:
                set_out(ep_, c, true);
                [[fallthrough]];
            case SSL_ERROR_WANT_READ:
                errno = EAGAIN;
                return -1;
            case SSL_ERROR_ZERO_RETURN:
                return 0;
            case SSL_ERROR_SYSCALL:
                if (ERR_peek_error() == 0) {
                    errno = saved != 0 ? saved : ECONNRESET;
                    return -1;
                }
                [[fallthrough]];
            default:
                tls_reason_ = ERR_error_string(ERR_get_error(), nullptr);
                ERR_clear_error();
                errno = EPROTO;
                return -1;
        }
    }

    /// Persistent connections (--tls): the handshake before the run, waiting at most --timeout.
    bool handshake_now(Conn& c) {
        if (!start_tls(c)) {
            complain("conn #%d: TLS: %s", c.id, tls_reason_.c_str());
            return false;
        }
        const auto deadline = Clock::now() + to_duration(opt_.timeout);
        for (;;) {
            ERR_clear_error();
            const int r = SSL_do_handshake(c.ssl);
            if (r == 1)
                return true;
            const int err = SSL_get_error(c.ssl, r);
            if ((err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) ||
                Clock::now() > deadline) {
                tls_reason_ = err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE
                                  ? std::string("timed out")
                                  : ERR_error_string(ERR_get_error(), nullptr);
                complain("conn #%d: TLS handshake: %s", c.id, tls_reason_.c_str());
                SSL_free(c.ssl);
                c.ssl = nullptr;
                return false;
            }
            pollfd p{c.fd, static_cast<short>(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
            poll(&p, 1, 100);
        }
    }

    /// --mode connect --tls: one step of the handshake on an event; the request goes out once
    /// it is done.
    void continue_handshake(Conn& c) {
        ERR_clear_error();
        const int r = SSL_do_handshake(c.ssl);
        if (r == 1) {
            c.handshaking = false;
            set_out(ep_, c, false);
            send_stream(c);
            return;
        }
        if (tls_failure(c, r) < 0 && errno == EAGAIN) {
            if (SSL_get_error(c.ssl, r) == SSL_ERROR_WANT_READ)
                set_out(ep_, c, false);
            return;
        }
        connection_error(c, "TLS handshake", errno == EAGAIN ? ECONNRESET : errno);
    }

    /// Sends from iov (n entries): sendmsg, or over TLS one record of their bytes (gathered in
    /// the same order each time, so a write that would block is retried with the same bytes).
    ssize_t write_some(Conn& c, iovec* iov, size_t n) {
        if (c.ssl == nullptr) {
            msghdr m{};
            m.msg_iov = iov;
            m.msg_iovlen = n;
            return sendmsg(c.fd, &m, MSG_NOSIGNAL);
        }
        size_t len = 0;
        for (size_t i = 0; i < n && len < kTlsRecord; ++i) {
            const size_t take = std::min(iov[i].iov_len, kTlsRecord - len);
            std::memcpy(tls_out_.data() + len, iov[i].iov_base, take);
            len += take;
        }
        size_t written = 0;
        ERR_clear_error();
        if (SSL_write_ex(c.ssl, tls_out_.data(), len, &written) == 1)
            return static_cast<ssize_t>(written);
        const ssize_t r = tls_failure(c, 0);
        if (r == 0)
            errno = EPIPE;  // the server's close_notify: it takes nothing more
        return -1;
    }

    /// recv, or over TLS plaintext (SSL_read): as recv returns.
    ssize_t read_some(Conn& c, char* p, size_t n) {
        if (c.ssl == nullptr)
            return recv(c.fd, p, n, 0);
        size_t got = 0;
        ERR_clear_error();
        if (SSL_read_ex(c.ssl, p, n, &got) == 1)
            return static_cast<ssize_t>(got);
        return tls_failure(c, 0);
    }

    /// Closes c's socket; over TLS with a close_notify first (if the socket takes it now).
    void close_connection(Conn& c) {
        if (c.ssl != nullptr) {
            ERR_clear_error();
            SSL_shutdown(c.ssl);
            ERR_clear_error();
            SSL_free(c.ssl);
            c.ssl = nullptr;
            c.handshaking = false;
        }
        close(c.fd);
        c.fd = -1;
    }

    /// The connection failed: closed, and its requests abandoned.
    void fail(Conn& c) {
        if (c.fd >= 0)
            close_connection(c);  // also removes it from the epoll set
        c.alive = false;
        outstanding_ -= c.inflight.size() + c.backlog.size();
        c.inflight.clear();
        c.backlog.clear();
        --live_;
    }

    bool may_issue() const {
        return Clock::now() < win_end_ && (!counted_ || issued_ < opt_.count);
    }

    size_t room(const Conn& c) const {
        size_t cap = connect_mode_ ? 1 : static_cast<size_t>(opt_.pipeline);
        return c.inflight.size() < cap ? cap - c.inflight.size() : 0;
    }

    /// After a completion: due requests waiting for room first, then (closed loop) new ones.
    void refill(Conn& c, Clock::time_point now) {
        while (c.alive && room(c) > 0 && !c.backlog.empty()) {
            auto due = c.backlog.front();
            c.backlog.pop_front();
            issue(c, due, now);
        }
        while (opt_.rate <= 0 && c.alive && room(c) > 0 && may_issue()) {
            ++issued_;
            ++outstanding_;
            issue(c, now, now);
        }
    }

    /// --rate: hands every request due by now to its connection; returns when the next is due.
    Clock::time_point release_due(Clock::time_point now) {
        for (;;) {
            if (counted_ && issued_ == opt_.count)
                return Clock::time_point::max();
            auto due = t0_ + to_duration(static_cast<double>(issued_) / opt_.rate);
            if (due > now || due >= win_end_)
                return due;
            auto n = conns_.size();
            Conn* c = &conns_[issued_ % n];
            for (size_t k = 1; !c->alive && k < n; ++k)
                c = &conns_[(issued_ + k) % n];
            ++issued_;
            ++outstanding_;
            if (room(*c) > 0)
                issue(*c, due, now);
            else
                c->backlog.push_back(due);
        }
    }

    /// Puts a new request on c (counted in outstanding_ by the caller) and sends what it can.
    void issue(Conn& c, Clock::time_point due, Clock::time_point now) {
        Request r;
        r.seq = c.next_seq++;
        r.due = due;
        r.issued = now;
        c.inflight.push_back(r);
        if (chargen_) {
            c.unsent = c.inflight.size();  // nothing to send: the server streams on its own
            return;
        }
        if (connect_mode_ && c.fd < 0)
            start_connect(c);
        else if (!receiving_)
            send_pending(c);
    }

    /// Request r's bytes on connection c (stream modes).
    std::pair<const char*, size_t> request_bytes(const Conn& c, const Request& r) const {
        if (timefmt_)
            return {request_line_.data(), request_line_.size()};
        return {window(c.id, r.seq), opt_.size};
    }

    const char* window(int id, uint64_t seq) const {
        return pattern_.data() + (static_cast<uint64_t>(id) * 37 + seq) % 256;
    }

    /// udp-echo: request seq of socket id, into out (size bytes): the sequence number, then
    /// the rest of its pattern window.
    void make_datagram(int id, uint64_t seq, char* out) const {
        for (size_t k = 0; k < header_bytes_; ++k)
            out[k] = static_cast<char>(seq >> (8 * k));
        std::memcpy(out + header_bytes_, window(id, seq) + header_bytes_,
                    opt_.size - header_bytes_);
    }

    void send_pending(Conn& c) {
        if (udp_)
            send_datagrams(c);
        else
            send_stream(c);
    }

    /// Sends the unsent requests of a stream connection, up to kMaxIov per sendmsg.
    void send_stream(Conn& c) {
        while (c.unsent < c.inflight.size()) {
            iovec iov[kMaxIov];
            size_t n = 0;
            time_t wall = timefmt_ ? wall_now(true) : 0;
            for (size_t i = c.unsent; i < c.inflight.size() && n < kMaxIov; ++i, ++n) {
                Request& r = c.inflight[i];
                if (!r.stamped) {
                    r.stamped = true;
                    r.wall_sent = wall;
                }
                auto [p, len] = request_bytes(c, r);
                size_t off = i == c.unsent ? c.send_off : 0;
                iov[n] = {const_cast<char*>(p) + off, len - off};
            }
            ++st_.sends;
            ssize_t w = write_some(c, iov, n);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                set_out(ep_, c, true);
                return;
            }
            if (w < 0) {
                connection_error(c, "send", errno);
                return;
            }
            auto left = static_cast<size_t>(w);
            c.bytes_sent += left;
            while (left > 0) {
                size_t rest = request_bytes(c, c.inflight[c.unsent]).second - c.send_off;
                if (left < rest) {
                    c.send_off += left;
                    break;
                }
                left -= rest;
                c.send_off = 0;
                ++c.unsent;
            }
        }
        set_out(ep_, c, false);
    }

    /// udp-echo: sends the unsent requests of a socket, one datagram each.
    void send_datagrams(Conn& c) {
        while (c.unsent < c.inflight.size()) {
            make_datagram(c.id, c.inflight[c.unsent].seq, datagram_.data());
            ++st_.sends;
            ssize_t w = send(c.fd, datagram_.data(), opt_.size, 0);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                set_out(ep_, c, true);
                return;
            }
            if (w < 0 && errno == ECONNREFUSED) {
                // An ICMP port unreachable for an earlier datagram; this one was not sent. It
                // counts as lost when its timeout passes, like any datagram nobody answered.
                ++st_.refused;
            } else if (w < 0) {
                connection_error(c, "send", errno);
                return;
            }
            ++c.unsent;
        }
        set_out(ep_, c, false);
    }

    /// Reads and checks replies; the requests they make room for go out together after.
    void on_readable(Conn& c, Clock::time_point now) {
        receiving_ = true;
        if (udp_)
            receive_datagrams(c, now);
        else
            receive_stream(c, now);
        receiving_ = false;
        if (c.alive && c.fd >= 0 && !c.connecting && c.unsent < c.inflight.size())
            send_pending(c);
    }

    /// One recv per event; over TLS reads until OpenSSL needs the socket again (what it holds
    /// already would wake no epoll_wait).
    void receive_stream(Conn& c, Clock::time_point now) {
        const int fd = c.fd;
        do {
            ++st_.recvs;
            ssize_t r = read_some(c, scratch_.data(), scratch_.size());
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                return;
            if (r < 0) {
                connection_error(c, "recv", errno);
                return;
            }
            if (r == 0) {
                complain("conn #%d: closed by the server (%zu requests in flight)", c.id,
                         c.inflight.size());
                ++st_.conn_errors;
                fail(c);
                return;
            }
            if (timefmt_)
                on_reply_lines(c, scratch_.data(), static_cast<size_t>(r), now);
            else if (chargen_)
                on_chargen_bytes(c, scratch_.data(), static_cast<size_t>(r), now);
            else
                on_echo_bytes(c, scratch_.data(), static_cast<size_t>(r), now);
        } while (c.ssl != nullptr && c.alive && c.fd == fd);
    }

    /// echo, connect: bytes must continue the concatenation of the requests sent.
    void on_echo_bytes(Conn& c, const char* p, size_t n, Clock::time_point now) {
        if (c.bytes_received + n > c.bytes_sent) {
            complain("conn #%d: %zu bytes received, only %llu sent but not yet echoed", c.id, n,
                     ull(c.bytes_sent - c.bytes_received));
            ++st_.mismatches;
            fail(c);
            return;
        }
        c.bytes_received += n;
        while (n > 0 && c.alive) {
            const Request& r = c.inflight.front();
            const char* want = window(c.id, r.seq) + c.recv_off;
            size_t take = std::min(n, opt_.size - c.recv_off);
            if (std::memcmp(p, want, take) != 0) {
                size_t at = 0;
                while (p[at] == want[at])
                    ++at;
                complain("conn #%d: request %llu: wrong echo at byte %zu of %zu", c.id, ull(r.seq),
                         c.recv_off + at, opt_.size);
                ++st_.mismatches;
                fail(c);
                return;
            }
            c.recv_off += take;
            p += take;
            n -= take;
            if (c.recv_off == opt_.size) {
                c.recv_off = 0;
                complete(c, 0, now, opt_.size, true);
            }
        }
    }

    /// chargen: bytes must continue the RFC 864 pattern from where the stream is; each --size
    /// bytes complete a request (what comes while none is in flight is checked, not counted).
    void on_chargen_bytes(Conn& c, const char* p, size_t n, Clock::time_point now) {
        while (n > 0 && c.alive) {
            const size_t at = c.bytes_received % kChargenCycle;
            size_t take = std::min(n, kChargenCycle - at);
            if (!c.inflight.empty())
                take = std::min(take, opt_.size - c.recv_off);
            if (std::memcmp(p, pattern_.data() + at, take) != 0) {
                complain("conn #%d: byte %llu of the stream breaks RFC 864's pattern", c.id,
                         ull(c.bytes_received));
                ++st_.mismatches;
                fail(c);
                return;
            }
            c.bytes_received += take;
            p += take;
            n -= take;
            if (!c.inflight.empty() && (c.recv_off += take) == opt_.size) {
                c.recv_off = 0;
                complete(c, 0, now, opt_.size, true);
            }
        }
    }

    /// timefmt: each reply line must be the formatted time of a second of its request's life.
    void on_reply_lines(Conn& c, const char* p, size_t n, Clock::time_point now) {
        while (n > 0 && c.alive) {
            const char* nl = static_cast<const char*>(std::memchr(p, '\n', n));
            size_t take = nl ? static_cast<size_t>(nl - p) + 1 : n;
            c.line.append(p, take);
            p += take;
            n -= take;
            if (!nl) {
                if (c.line.size() > kMaxReplyLine) {
                    complain("conn #%d: a reply line longer than %zu bytes", c.id, kMaxReplyLine);
                    ++st_.mismatches;
                    fail(c);
                }
                return;
            }
            if (c.unsent == 0) {
                complain("conn #%d: a reply line before its request was sent: \"%s\"", c.id,
                         printable(c.line).c_str());
                ++st_.mismatches;
                fail(c);
                return;
            }
            std::string_view text(c.line.data(), c.line.size() - 1);
            bool ok = is_time_of(text, c.inflight.front().wall_sent, wall_now(false));
            if (!ok) {
                complain("conn #%d: request %llu: \"%s\" is not \"%s\" of now", c.id,
                         ull(c.inflight.front().seq), printable(c.line).c_str(),
                         opt_.format.c_str());
                ++st_.mismatches;
            }
            size_t bytes = c.line.size();
            c.line.clear();
            complete(c, 0, now, bytes, ok);
        }
    }

    /// udp-echo: reads what arrived, matching each reply to the request it echoes.
    void receive_datagrams(Conn& c, Clock::time_point now) {
        for (int i = 0; i < kDatagramsPerWakeup && c.alive; ++i) {
            ++st_.recvs;
            ssize_t r = recv(c.fd, scratch_.data(), scratch_.size(), 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return;
            if (r < 0 && errno == ECONNREFUSED) {  // unanswered datagrams time out as lost
                ++st_.refused;
                continue;
            }
            if (r < 0) {
                connection_error(c, "recv", errno);
                return;
            }
            on_datagram(c, scratch_.data(), static_cast<size_t>(r), now);
        }
    }

    void on_datagram(Conn& c, const char* p, size_t n, Clock::time_point now) {
        uint64_t seq = 0;
        for (size_t k = 0; k < header_bytes_ && k < n; ++k)
            seq |= static_cast<uint64_t>(static_cast<unsigned char>(p[k])) << (8 * k);
        uint64_t mask = header_bytes_ == 8 ? ~0ull : (1ull << (8 * header_bytes_)) - 1;
        bool echoes = false;
        if (n == opt_.size) {
            make_datagram(c.id, seq, datagram_.data());
            echoes = std::memcmp(p, datagram_.data(), n) == 0;
        }
        if (echoes) {
            for (size_t i = 0; i < c.unsent; ++i) {
                if ((c.inflight[i].seq & mask) == seq) {
                    complete(c, i, now, n, true);
                    return;
                }
            }
            ++st_.late;  // answers a datagram already counted as lost
            return;
        }
        complain("socket #%d: a %zu-byte datagram that echoes no request sent (request %llu?)",
                 c.id, n, ull(seq));
        ++st_.mismatches;
    }

    /// Request i of c got its whole reply (ok) or a wrong one: it leaves the connection.
    void complete(Conn& c, size_t i, Clock::time_point now, size_t reply_bytes, bool ok) {
        const Request r = c.inflight[i];
        c.inflight.erase(c.inflight.begin() + static_cast<ptrdiff_t>(i));
        if (i < c.unsent)
            --c.unsent;
        --outstanding_;
        if (ok) {
            ++st_.completed_total;
            if (now >= win_start_ && now < win_end_) {
                ++st_.completed;
                st_.reply_bytes += reply_bytes;
                st_.lat_ns.push_back(static_cast<uint64_t>(
                    std::chrono::duration_cast<std::chrono::nanoseconds>(now - r.due).count()));
            }
        }
        if (connect_mode_) {
            close_connection(c);
            c.want_out = false;
        }
        refill(c, now);
    }

    /// --mode connect: a new non-blocking connection for the request just issued on c.
    void start_connect(Conn& c) {
        c.fd = socket(target_.family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (c.fd < 0 ||
            (::connect(c.fd, reinterpret_cast<const sockaddr*>(&target_.addr), target_.len) < 0 &&
             errno != EINPROGRESS)) {
            connection_error(c, "connect", errno);
            return;
        }
        int one = 1;
        setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ++c.generation;
        c.connecting = true;
        c.want_out = true;
        c.unsent = c.send_off = c.recv_off = 0;
        c.bytes_sent = c.bytes_received = 0;
        watch(ep_, EPOLL_CTL_ADD, c.fd, c.tag(), EPOLLIN | EPOLLOUT);
    }

    /// --mode connect: the connect finished (or failed); send the request.
    void on_connected(Conn& c) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
            connection_error(c, "connect", err != 0 ? err : errno);
            return;
        }
        c.connecting = false;
        if (opt_.proxy_v2 && !send_proxy_header(c))
            return;
        if (tls_ctx_ != nullptr) {
            if (!start_tls(c)) {
                connection_error(c, "TLS", EPROTO);
                return;
            }
            c.handshaking = true;
            continue_handshake(c);
            return;
        }
        send_stream(c);
    }

    /// --proxy-v2: the header a balancer would send for this connection, held back (MSG_MORE)
    /// to leave in one segment with the request that follows.
    bool send_proxy_header(Conn& c) {
        sockaddr_storage local{};
        socklen_t local_len = sizeof local;
        getsockname(c.fd, reinterpret_cast<sockaddr*>(&local), &local_len);
        std::string header("\r\n\r\n\0\r\nQUIT\n", 12);
        const bool v6 = local.ss_family == AF_INET6;
        header += '\x21';
        header += v6 ? '\x21' : '\x11';
        const uint16_t body = v6 ? 36 : 12;
        header += static_cast<char>(body >> 8);
        header += static_cast<char>(body & 0xff);
        const auto append = [&header](const void* p, size_t n) {
            header.append(static_cast<const char*>(p), n);
        };
        if (v6) {
            const auto& src = reinterpret_cast<const sockaddr_in6&>(local);
            const auto& dst = reinterpret_cast<const sockaddr_in6&>(target_.addr);
            append(&src.sin6_addr, 16);
            append(&dst.sin6_addr, 16);
            append(&src.sin6_port, 2);
            append(&dst.sin6_port, 2);
        } else {
            const auto& src = reinterpret_cast<const sockaddr_in&>(local);
            const auto& dst = reinterpret_cast<const sockaddr_in&>(target_.addr);
            append(&src.sin_addr, 4);
            append(&dst.sin_addr, 4);
            append(&src.sin_port, 2);
            append(&dst.sin_port, 2);
        }
        const ssize_t w = send(c.fd, header.data(), header.size(), MSG_NOSIGNAL | MSG_MORE);
        if (w != static_cast<ssize_t>(header.size())) {
            connection_error(c, "send", w < 0 ? errno : EAGAIN);
            return false;
        }
        return true;
    }

    /// A TCP request outstanding too long fails its connection; a datagram is lost.
    void check_timeouts(Clock::time_point now) {
        auto limit = to_duration(opt_.timeout);
        for (auto& c : conns_) {
            while (c.alive && !c.inflight.empty() && now - c.inflight.front().issued > limit) {
                const Request& r = c.inflight.front();
                if (!udp_) {
                    complain("conn #%d: request %llu timed out (%zu requests in flight)", c.id,
                             ull(r.seq), c.inflight.size());
                    ++st_.timeouts;
                    fail(c);
                    break;
                }
                complain("socket #%d: datagram %llu lost: no reply within %.3f s", c.id, ull(r.seq),
                         opt_.timeout);
                ++st_.lost;
                complete(c, 0, now, 0, false);
            }
        }
    }

    /// The current second: the lower bound for an answer (the coarse clock may lag the
    /// precise one, and a server may read either), or the upper bound.
    static time_t wall_now(bool lower) {
        timespec t{};
        clock_gettime(CLOCK_REALTIME, &t);
        time_t s = t.tv_sec;
        if (lower && clock_gettime(CLOCK_REALTIME_COARSE, &t) == 0)
            s = std::min(s, t.tv_sec);
        return s;
    }

    /// timefmt: is text the format's output for a second in [from, to], UTC or (unless --utc)
    /// local time?
    bool is_time_of(std::string_view text, time_t from, time_t to) {
        for (time_t s = from; s <= to; ++s)
            if (text == formatted(s, true) || (!opt_.utc && text == formatted(s, false)))
                return true;
        return false;
    }

    /// strftime(--format) of second s, cached: consecutive replies mostly show the same second.
    const std::string& formatted(time_t s, bool utc) {
        FormattedSecond& f = formatted_[(static_cast<size_t>(s) % 4) * 2 + (utc ? 1 : 0)];
        if (!f.valid || f.second != s) {
            std::tm tm{};
            if (utc)
                gmtime_r(&s, &tm);
            else
                localtime_r(&s, &tm);
            char buf[2048];
            size_t n = std::strftime(buf, sizeof buf, opt_.format.c_str(), &tm);
            f.text.assign(buf, n);
            f.second = s;
            f.valid = true;
        }
        return f.text;
    }

    static std::string printable(const std::string& s) {
        std::string o;
        for (char ch : s.substr(0, 120)) {
            if (ch == '\n')
                o += "\\n";
            else if (ch == '\r')
                o += "\\r";
            else
                o += ch >= 0x20 && ch < 0x7f ? ch : '.';
        }
        return o;
    }

    struct FormattedSecond {
        time_t second = 0;
        bool valid = false;
        std::string text;
    };

    Options opt_;
    const bool udp_, connect_mode_, timefmt_, chargen_;
    Progress progress_;
    std::vector<char> pattern_, scratch_, datagram_;
    std::string request_line_;  // timefmt: --format and LF
    size_t header_bytes_ = 8;   // udp-echo: sequence number bytes at the front of a datagram
    FormattedSecond formatted_[8];
    Target target_;
    std::vector<Conn> conns_;
    SSL_CTX* tls_ctx_ = nullptr;  // --tls
    std::vector<char> tls_out_;   // --tls: the record being written
    std::string tls_reason_;      // --tls: OpenSSL's reason for the last failure
    int ep_ = -1;
    int live_ = 0;
    bool counted_ = false;      // --count given: the run ends after that many requests
    bool receiving_ = false;    // in on_readable: new requests wait to be sent together
    uint64_t issued_ = 0;       // requests handed out (--rate: their due slots)
    uint64_t outstanding_ = 0;  // issued, neither completed nor abandoned
    uint64_t progress_done_ = 0, complaints_ = 0;
    Stats st_;
    Clock::time_point t0_, win_start_, win_end_;
    double cpu_start_ = 0, cpu_used_ = 0, elapsed_ = 0;
};

// --mode logger: see the comment at the top of the file.
class LoggerBench {
  public:
    explicit LoggerBench(const Options& o)
        : opt_(o), datagrams_(!o.unixgram.empty()), progress_(o.quiet) {
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
        if (datagrams_)
            target = unix_target(opt_.unixgram);
        else if (!resolve(opt_, target))
            return false;
        bool ok = true;
        for (auto& c : conns_) {
            c.fd = connect_to(target, c.id, datagrams_ ? SOCK_DGRAM : SOCK_STREAM, false);
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
        progress_.start(t_first_);
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
            if (progress_.due(now))
                show_progress(now);
            int ms = static_cast<int>(
                std::chrono::ceil<std::chrono::milliseconds>(last_progress_ + timeout - now)
                    .count());
            int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()),
                               std::clamp(ms, 0, 100));
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                std::perror("netd-bench: epoll_wait");
                std::exit(1);
            }
            for (int i = 0; i < n; ++i) {
                LConn& c = conns_[static_cast<uint32_t>(events[i].data.u64)];
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
        progress_.finish();
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
            if (progress_.due(now))
                progress_.print("netd-bench: verifying: %llu of %llu records in %s", ull(unique_),
                                ull(opt_.count), opt_.verify_file.c_str());
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
        progress_.finish();
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
            if (datagrams_)
                std::printf("{\"mode\":\"logger\",\"unixgram\":\"%s\"",
                            json_escape(opt_.unixgram).c_str());
            else
                std::printf("{\"mode\":\"logger\",\"host\":\"%s\",\"port\":%s", opt_.host.c_str(),
                            opt_.port.c_str());
            std::printf(
                ",\"connections\":%d,\"size\":%zu,"
                "\"count\":%llu,\"sent\":%llu,\"send_s\":%.6f,\"send_lines_per_s\":%.1f,"
                "\"send_mb_per_s\":%.3f,\"closed_s\":%.6f",
                opt_.connections, opt_.size, ull(opt_.count), ull(sent), send_s, send_lps,
                send_mbps, close_s);
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
            if (datagrams_)
                std::printf(
                    "target:      unixgram %s, %d sockets, %zu-byte datagrams, %llu lines\n",
                    opt_.unixgram.c_str(), opt_.connections, opt_.size, ull(opt_.count));
            else
                std::printf("target:      %s:%s, %d connections, %zu-byte lines, %llu lines\n",
                            opt_.host.c_str(), opt_.port.c_str(), opt_.connections, opt_.size,
                            ull(opt_.count));
            std::printf(
                "send:        %llu lines in %.3f s: %.1f lines/s, %.3f MB/s "
                "(first to last byte handed to the kernel)\n",
                ull(sent), send_s, send_lps, send_mbps);
            std::printf(datagrams_ ? "closed:      %.3f s after the first byte, the last datagram "
                                     "was handed to the kernel\n"
                                   : "closed:      %.3f s after the first byte, the server had "
                                     "closed every connection\n",
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

    void show_progress(Clock::time_point now) {
        uint64_t sent = 0;
        for (auto& c : conns_)
            sent += c.sent_lines();
        progress_.print("netd-bench: %5.1f s  %9llu lines/s  %llu of %llu lines sent  %d open",
                        seconds(now - t_first_), ull(sent - progress_sent_), ull(sent),
                        ull(opt_.count), live_);
        progress_sent_ = sent;
    }

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
        uint64_t tag() const { return static_cast<uint64_t>(id); }
    };

    static size_t digits(uint64_t v) {
        size_t n = 1;
        while (v >= 10) {
            v /= 10;
            ++n;
        }
        return n;
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
                if (c.next == c.lines && datagrams_) {
                    c.shut = true;  // nothing comes back: done with this socket
                    if (--sending_ == 0)
                        t_sent_ = Clock::now();
                    close(c.fd);
                    c.fd = -1;
                    --live_;
                    return;
                }
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
            // A datagram is one line: buf holds whole lines, and a datagram goes whole or not.
            ssize_t w = send(c.fd, c.buf.data() + c.off, datagrams_ ? opt_.size : c.len - c.off,
                             MSG_NOSIGNAL);
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
    bool datagrams_;  // --unixgram: a datagram per line
    Progress progress_;
    std::vector<LConn> conns_;
    int ep_ = -1;
    int live_ = 0, sending_ = 0;
    uint64_t progress_sent_ = 0;  // lines sent at the last progress line
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

// echo-baseline: hand-tuned reference TCP echo server for benchmarking netd.
// Single thread, level-triggered epoll, non-blocking sockets, accept4, TCP_NODELAY,
// one shared 64 KiB read buffer. A partial write parks the unsent remainder on the
// connection and stops reading from it until EPOLLOUT drains it (back-pressure: at
// most one read buffer is ever held per connection).
// With --fork it is instead the reference fork-per-connection server (what netd's fork mode
// and xinetd's `wait = no` do): the epoll loop only accepts, each connection is served by a
// child of its own with blocking reads and writes, and children are reaped with waitpid from a
// SIGCHLD handler (so their CPU time counts in the parent's cutime/cstime, as netd's and
// xinetd's do). It shows what a fork costs on the machine, the floor of any such server.
// It also echoes UDP on the same port number (in both modes, from the epoll loop, as inetd
// serves datagrams itself): the reference for netd-bench --mode udp-echo. A readable socket is
// drained until EAGAIN, up to kBatch datagrams per recvmmsg, each batch echoed with one
// sendmmsg (netd receives one datagram per call; batching is what a hand-tuned server does).
// Usage: echo-baseline PORT [--fork]  (binds 127.0.0.1:PORT for TCP and UDP, 0 = a free port;
// exits 0 on SIGTERM/SIGINT)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Conn {
    std::string pending;  // bytes read but not yet written back (non-empty => EPOLLOUT mode)
    size_t off = 0;
};

std::vector<Conn> conns;  // indexed by fd
int ep = -1;

void die(const char* what) {
    std::perror(what);
    std::exit(1);
}

void set_interest(int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0)
        die("epoll_ctl(MOD)");
}

void close_conn(int fd) {
    conns[fd] = Conn{};
    close(fd);  // also removes it from the epoll set
}

// Sends [p, p+n); returns bytes sent (possibly short), or -1 on a fatal error.
ssize_t send_some(int fd, const char* p, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t w = send(fd, p + done, n - done, MSG_NOSIGNAL);
        if (w > 0) {
            done += static_cast<size_t>(w);
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            return -1;
        }
    }
    return static_cast<ssize_t>(done);
}

void on_readable(int fd, char* buf, size_t cap) {
    ssize_t r = recv(fd, buf, cap, 0);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        close_conn(fd);
        return;
    }
    if (r < 0)
        return;
    ssize_t w = send_some(fd, buf, static_cast<size_t>(r));
    if (w < 0) {
        close_conn(fd);
    } else if (w < r) {
        conns[fd].pending.assign(buf + w, static_cast<size_t>(r - w));
        conns[fd].off = 0;
        set_interest(fd, EPOLLOUT);  // stop reading until the remainder drains
    }
}

void on_writable(int fd) {
    Conn& c = conns[fd];
    ssize_t w = send_some(fd, c.pending.data() + c.off, c.pending.size() - c.off);
    if (w < 0) {
        close_conn(fd);
        return;
    }
    c.off += static_cast<size_t>(w);
    if (c.off == c.pending.size()) {
        c.pending.clear();
        c.off = 0;
        set_interest(fd, EPOLLIN);
    }
}

/// --fork: serves connection c in a child of its own, which echoes until end of input.
void serve_in_child(int c, const sigset_t& blocked) {
    const pid_t pid = fork();
    if (pid < 0) {
        std::perror("fork");
    } else if (pid == 0) {
        sigprocmask(SIG_UNBLOCK, &blocked, nullptr);
        int flags = 0;
        ioctl(c, FIONBIO, &flags);
        static char buf[64 * 1024];
        for (;;) {
            const ssize_t n = read(c, buf, sizeof buf);
            if (n <= 0)
                _exit(0);
            for (ssize_t sent = 0; sent < n;) {
                const ssize_t w = write(c, buf + sent, static_cast<size_t>(n - sent));
                if (w <= 0)
                    _exit(0);
                sent += w;
            }
        }
    }
    close(c);
}

/// Echoes every datagram waiting on the UDP socket u back to its sender, kBatch at a time.
void drain_udp(int u) {
    constexpr unsigned kBatch = 64;
    constexpr size_t kMaxDatagram = 65536;
    static char bufs[kBatch][kMaxDatagram];
    static sockaddr_storage peers[kBatch];
    static iovec iov[kBatch];
    static mmsghdr msgs[kBatch];
    for (;;) {
        for (unsigned i = 0; i < kBatch; ++i) {
            iov[i] = {bufs[i], kMaxDatagram};
            msgs[i].msg_hdr = msghdr{};
            msgs[i].msg_hdr.msg_name = &peers[i];
            msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        const int n = recvmmsg(u, msgs, kBatch, MSG_DONTWAIT, nullptr);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;  // EAGAIN: drained
        for (int i = 0; i < n; ++i)
            iov[i].iov_len = msgs[i].msg_len;  // the reply is the datagram as received
        for (int sent = 0; sent < n;) {
            const int w = sendmmsg(u, msgs + sent, static_cast<unsigned>(n - sent), MSG_DONTWAIT);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;  // send buffer full: the rest is dropped, as UDP may
            sent += w;
        }
        if (static_cast<unsigned>(n) < kBatch)
            return;  // a short batch: the socket is empty
    }
}

}  // namespace

int main(int argc, char** argv) {
    const bool fork_mode = argc == 3 && std::strcmp(argv[2], "--fork") == 0;
    if (argc != 2 && !fork_mode) {
        std::fprintf(stderr, "usage: %s PORT [--fork]\n", argv[0]);
        return 2;
    }
    if (fork_mode) {
        struct sigaction reap {};
        reap.sa_handler = [](int) {
            const int saved = errno;
            while (waitpid(-1, nullptr, WNOHANG) > 0) {
            }
            errno = saved;
        };
        reap.sa_flags = SA_RESTART | SA_NOCLDSTOP;
        sigaction(SIGCHLD, &reap, nullptr);
    }
    char* end = nullptr;
    long port = std::strtol(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0' || port < 0 || port > 65535) {
        std::fprintf(stderr, "invalid port: %s\n", argv[1]);
        return 2;
    }

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (sigprocmask(SIG_BLOCK, &mask, nullptr) < 0)
        die("sigprocmask");
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0)
        die("signalfd");

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        die("bind");
    if (listen(lfd, SOMAXCONN) < 0)
        die("listen");
    socklen_t alen = sizeof addr;
    if (getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &alen) < 0)
        die("getsockname");
    int ufd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ufd < 0)
        die("socket(udp)");
    if (bind(ufd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        die("bind(udp)");  // PORT 0: the TCP port's number may be taken for UDP; run again

    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    for (int fd : {lfd, sfd, ufd}) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
            die("epoll_ctl(ADD)");
    }
    std::printf("listening on 127.0.0.1:%u\n", ntohs(addr.sin_port));
    std::fflush(stdout);

    static char buf[64 * 1024];
    epoll_event events[256];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            uint32_t e = events[i].events;
            if (fd == sfd)
                return 0;  // SIGTERM or SIGINT
            if (fd == ufd) {
                drain_udp(ufd);
                continue;
            }
            if (fd == lfd) {
                for (;;) {
                    int c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (c < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                            continue;
                        if (errno != EAGAIN && errno != EWOULDBLOCK)
                            std::perror("accept4");
                        break;
                    }
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    if (fork_mode) {
                        serve_in_child(c, mask);
                        continue;
                    }
                    if (static_cast<size_t>(c) >= conns.size())
                        conns.resize(c * 2 + 16);
                    epoll_event ev{};
                    ev.events = EPOLLIN;
                    ev.data.fd = c;
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) < 0)
                        die("epoll_ctl(ADD)");
                }
            } else if (!conns[fd].pending.empty()) {
                on_writable(fd);  // EPOLLOUT, or EPOLLERR/HUP which send() will report
            } else if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                on_readable(fd, buf, sizeof buf);
            }
        }
    }
}

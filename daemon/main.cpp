// netd: small line and datagram services over TCP, UDP and Unix sockets.

#include "daemon/daemon_main.hpp"

int main(int argc, char* argv[]) {
    return netd::daemon_main(argc, argv);
}

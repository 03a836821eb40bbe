#pragma once
// Who is on the other end of a connection or sent a datagram: what verifiers, handlers and log
// lines are told.

#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <string>

#include "core/transport.hpp"

namespace netd {

struct Peer {
    Transport transport = Transport::tcp;
    boost::asio::ip::address address;  ///< tcp and udp only
    std::uint16_t port = 0;            ///< tcp and udp only
    std::string path;                  ///< unix only: the peer's bound path, often empty

    /// "127.0.0.1:5000", "[::1]:5000", a Unix path, or "unix" for an unnamed Unix peer.
    std::string to_string() const;
};

}  // namespace netd

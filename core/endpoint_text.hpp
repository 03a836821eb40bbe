#pragma once
// How listener and peer addresses are written in logs and errors.

#include <boost/asio/ip/basic_endpoint.hpp>
#include <boost/asio/local/basic_endpoint.hpp>
#include <string>

#include "core/peer.hpp"

namespace netd {

/// "127.0.0.1:7007" or "[::1]:7007".
template <class InternetProtocol>
std::string endpoint_text(const boost::asio::ip::basic_endpoint<InternetProtocol>& endpoint) {
    Peer peer{.transport = Transport::tcp,
              .address = endpoint.address(),
              .port = endpoint.port(),
              .path = {}};
    return peer.to_string();
}

/// The socket path.
template <class LocalProtocol>
std::string endpoint_text(const boost::asio::local::basic_endpoint<LocalProtocol>& endpoint) {
    return endpoint.path();
}

/// The Peer a handler sees for a client at endpoint.
template <class InternetProtocol>
Peer make_peer(Transport transport, const boost::asio::ip::basic_endpoint<InternetProtocol>& e) {
    return Peer{.transport = transport, .address = e.address(), .port = e.port(), .path = {}};
}

template <class LocalProtocol>
Peer make_peer(Transport transport, const boost::asio::local::basic_endpoint<LocalProtocol>& e) {
    return Peer{.transport = transport, .address = {}, .port = 0, .path = e.path()};
}

}  // namespace netd

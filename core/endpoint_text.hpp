#pragma once
// How listener and peer addresses are written in logs and errors.

#include <boost/asio/ip/basic_endpoint.hpp>
#include <boost/asio/local/basic_endpoint.hpp>
#include <string>

#include "core/peer.hpp"

namespace netd {

/// The Peer a handler sees for a client at endpoint.
template <class InternetProtocol>
Peer make_peer(Transport transport, const boost::asio::ip::basic_endpoint<InternetProtocol>& e) {
    return Peer{
        .transport = transport, .port = e.port(), .address = e.address(), .credentials = {}};
}

/// A Unix client is known by its credentials (which the caller adds), not by the path it bound.
template <class LocalProtocol>
Peer make_peer(Transport transport,
               const boost::asio::local::basic_endpoint<LocalProtocol>& /*e*/) {
    return Peer{.transport = transport, .port = 0, .address = {}, .credentials = {}};
}

/// "127.0.0.1:7007" or "[::1]:7007".
template <class InternetProtocol>
std::string endpoint_text(const boost::asio::ip::basic_endpoint<InternetProtocol>& endpoint) {
    return make_peer(Transport::tcp, endpoint).to_string();
}

/// The socket path.
template <class LocalProtocol>
std::string endpoint_text(const boost::asio::local::basic_endpoint<LocalProtocol>& endpoint) {
    return endpoint.path();
}

}  // namespace netd

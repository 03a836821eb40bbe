#include "net/listener.hpp"

#include "net/datagram_listener.hpp"
#include "net/stream_listener.hpp"

namespace netd {

namespace asio = boost::asio;

namespace {

/// address as a ListenAt of Protocol: the passed socket, or the configured address.
template <class Protocol>
ListenAt<Protocol> listen_at(const ListenAddress& address) {
    if (const auto* adopted = std::get_if<AdoptedSocket>(&address)) {
        return *adopted;
    }
    if constexpr (is_local_protocol<Protocol>) {
        return typename Protocol::endpoint(std::get<std::string>(address));
    } else {
        const auto& endpoint = std::get<asio::ip::tcp::endpoint>(address);
        return typename Protocol::endpoint(endpoint.address(), endpoint.port());
    }
}

template <template <class> class Kind, class Protocol, class... Extra>
std::shared_ptr<Listener> make(asio::io_context& io, const std::shared_ptr<Service>& service,
                               const ListenAddress& address, const ListenerOptions& options,
                               Extra... extra) {
    return std::make_shared<Kind<Protocol>>(io, service, listen_at<Protocol>(address), options,
                                            extra...);
}

}  // namespace

std::shared_ptr<Listener> open_listener(asio::io_context& io,
                                        const std::shared_ptr<Service>& service,
                                        Transport transport, const ListenAddress& address,
                                        const ListenerOptions& options) {
    switch (transport) {
        case Transport::tcp:
            return make<StreamListener, asio::ip::tcp>(io, service, address, options);
        case Transport::tls:
            return make<StreamListener, asio::ip::tcp>(io, service, address, options,
                                                       Transport::tls);
        case Transport::udp:
            return make<DatagramListener, asio::ip::udp>(io, service, address, options);
        case Transport::unix_stream:
            return make<StreamListener, asio::local::stream_protocol>(io, service, address,
                                                                      options);
        case Transport::unix_datagram:
            break;
    }
    return make<DatagramListener, asio::local::datagram_protocol>(io, service, address, options);
}

std::string describe(Transport transport, const ListenAddress& address) {
    if (const auto* adopted = std::get_if<AdoptedSocket>(&address)) {
        return "fd " + std::to_string(adopted->fd);
    }
    if (const auto* path = std::get_if<std::string>(&address)) {
        return std::string(to_string(transport)) + " " + *path;
    }
    return std::string(to_string(transport)) + " " +
           endpoint_text(std::get<asio::ip::tcp::endpoint>(address));
}

}  // namespace netd

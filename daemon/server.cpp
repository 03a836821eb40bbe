#include "daemon/server.hpp"

#include "daemon/datagram_listener.hpp"
#include "daemon/logging.hpp"
#include "daemon/stream_listener.hpp"
#include "handlers/registry.hpp"

namespace netd {

namespace asio = boost::asio;

Server::Server(asio::io_context& io, std::shared_ptr<const config::Config> config)
    : io_(io), config_(std::move(config)) {}

Server::~Server() {
    stop();
}

void Server::bind() {
    std::vector<std::shared_ptr<Listener>> bound;
    std::vector<std::shared_ptr<Service>> services;
    try {
        for (const auto& settings : config_->services) {
            const auto* spec = find_handler(settings.handler);
            auto service = std::make_shared<Service>(Service{.config = config_,
                                                             .settings = settings,
                                                             .handler = spec->make(settings),
                                                             .connections = {}});
            for (const auto& endpoint : settings.tcp) {
                bound.push_back(
                    std::make_shared<StreamListener<asio::ip::tcp>>(io_, service, endpoint));
            }
            for (const auto& endpoint : settings.udp) {
                bound.push_back(std::make_shared<DatagramListener<asio::ip::udp>>(
                    io_, service, asio::ip::udp::endpoint(endpoint.address(), endpoint.port())));
            }
            for (const auto& path : settings.unix_stream) {
                bound.push_back(std::make_shared<StreamListener<asio::local::stream_protocol>>(
                    io_, service, asio::local::stream_protocol::endpoint(path)));
            }
            for (const auto& path : settings.unix_datagram) {
                bound.push_back(std::make_shared<DatagramListener<asio::local::datagram_protocol>>(
                    io_, service, asio::local::datagram_protocol::endpoint(path)));
            }
            services.push_back(std::move(service));
        }
        for (std::size_t started = 0; started < services.size(); ++started) {
            try {
                services[started]->handler->start();
            } catch (const KeyError& e) {
                for (std::size_t i = 0; i < started; ++i) {
                    services[i]->handler->stop();
                }
                throw services[started]->settings.error(e.key(), e.what());
            }
        }
    } catch (...) {
        for (auto& listener : bound) {
            listener->stop();
        }
        throw;
    }
    services_ = std::move(services);
    listeners_ = std::move(bound);
}

void Server::start() {
    for (const auto& listener : listeners_) {
        listener->start();
    }
}

void Server::reopen() {
    for (const auto& service : services_) {
        service->handler->reopen();
    }
}

void Server::shutdown() {
    for (const auto& listener : listeners_) {
        listener->drain();
        listener->stop();
    }
    listeners_.clear();
    for (const auto& service : services_) {
        // drain() closes the connection, which leaves the set once its last handler has run;
        // iterate over a copy all the same.
        const std::vector<Connection*> live(service->connections.begin(),
                                            service->connections.end());
        for (auto* connection : live) {
            connection->drain();
        }
    }
}

void Server::stop_handlers() {
    for (const auto& service : services_) {
        service->handler->stop();
    }
}

void Server::stop() {
    for (const auto& listener : listeners_) {
        listener->stop();
    }
    listeners_.clear();
}

}  // namespace netd

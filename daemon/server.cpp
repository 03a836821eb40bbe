#include "daemon/server.hpp"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/log/core.hpp>
#include <csignal>
#include <iostream>
#include <thread>

#include "daemon/datagram_listener.hpp"
#include "daemon/logging.hpp"
#include "daemon/socket_activation.hpp"
#include "daemon/stream_listener.hpp"
#include "handlers/registry.hpp"

namespace netd {

namespace asio = boost::asio;

namespace {

std::size_t loop_count(const config::ServerConfig& server) {
    if (server.mode != config::Mode::pool) {
        return 1;
    }
    if (server.threads > 0) {
        return server.threads;
    }
    return std::max(1U, std::thread::hardware_concurrency());
}

}  // namespace

Server::Server(std::shared_ptr<const config::Config> config)
    : config_(std::move(config)),
      loops_(loop_count(config_->server)),
      signals_(loops_.main(), SIGINT, SIGTERM, SIGHUP),
      manager_(loops_.main()),
      listeners_(loops_.size()) {
    connection_limit_.max = config_->server.max_connections;
    if (config_->server.mode == config::Mode::fork) {
        fork_ = std::make_unique<ForkModel>(loops_.main(), config_->server.max_children,
                                            config_->server.shutdown_timeout);
        fork_->on_child([this] { enter_child(); });
    }
}

Server::~Server() {
    stop();
}

void Server::bind() {
    const ListenerOptions options{.shared_port = loops_.size() > 1, .fork = fork_.get()};
    auto& main = loops_.main();
    std::vector<std::vector<std::shared_ptr<Listener>>> bound(loops_.size());
    std::vector<std::shared_ptr<Service>> services;
    const auto add = [&](std::shared_ptr<Listener> listener) {
        for (std::size_t loop = 1; loop < loops_.size(); ++loop) {
            bound[loop].push_back(listener->copy_for(loops_.at(loop)));
        }
        bound[0].push_back(std::move(listener));
    };
    try {
        for (const auto& settings : config_->services) {
            const auto* spec = find_handler(settings.handler);
            auto service = std::make_shared<Service>(
                Service{.config = config_,
                        .settings = settings,
                        .handler = spec->make(settings),
                        .verify = std::make_unique<VerifyChain>(settings, connection_limit_)});
            for (const auto& endpoint : settings.tcp) {
                add(std::make_shared<StreamListener<asio::ip::tcp>>(main, service, endpoint,
                                                                    options));
            }
            for (const auto& endpoint : settings.udp) {
                add(std::make_shared<DatagramListener<asio::ip::udp>>(
                    main, service, asio::ip::udp::endpoint(endpoint.address(), endpoint.port()),
                    options));
            }
            for (const auto& path : settings.unix_stream) {
                add(std::make_shared<StreamListener<asio::local::stream_protocol>>(
                    main, service, asio::local::stream_protocol::endpoint(path), options));
            }
            for (const auto& path : settings.unix_datagram) {
                add(std::make_shared<DatagramListener<asio::local::datagram_protocol>>(
                    main, service, asio::local::datagram_protocol::endpoint(path), options));
            }
            services.push_back(std::move(service));
        }
        for (const auto& passed : take_passed_sockets()) {
            const auto found = std::find_if(services.begin(), services.end(), [&](const auto& s) {
                return s->settings.name == passed.service;
            });
            if (found == services.end()) {
                throw config::ConfigError("socket activation: fd " + std::to_string(passed.fd) +
                                          " named '" + passed.name + "' matches no service");
            }
            const auto& service = *found;
            const auto* spec = find_handler(service->settings.handler);
            const bool stream = passed.kind == "tcp" || passed.kind == "unix";
            if (stream ? !spec->stream : !spec->datagram) {
                throw config::ConfigError("socket activation: fd " + std::to_string(passed.fd) +
                                          " named '" + passed.name + "': handler '" +
                                          service->settings.handler + "' does not serve " +
                                          (stream ? "streams" : "datagrams"));
            }
            const AdoptedSocket socket{.fd = passed.fd};
            if (passed.kind == "tcp") {
                add(std::make_shared<StreamListener<asio::ip::tcp>>(main, service, socket,
                                                                    options));
            } else if (passed.kind == "udp") {
                add(std::make_shared<DatagramListener<asio::ip::udp>>(main, service, socket,
                                                                      options));
            } else if (passed.kind == "unix") {
                add(std::make_shared<StreamListener<asio::local::stream_protocol>>(
                    main, service, socket, options));
            } else {
                add(std::make_shared<DatagramListener<asio::local::datagram_protocol>>(
                    main, service, socket, options));
            }
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
        for (auto& listeners : bound) {
            for (auto& listener : listeners) {
                listener->stop();
            }
        }
        throw;
    }
    services_ = std::move(services);
    listeners_ = std::move(bound);
}

int Server::run() {
    await_signal();
    for (std::size_t loop = 0; loop < loops_.size(); ++loop) {
        idle_sweeps_.push_back(std::make_unique<asio::steady_timer>(loops_.at(loop)));
        drain_watches_.push_back(std::make_unique<asio::steady_timer>(loops_.at(loop)));
        sweep_idle(loop);
    }
    for (const auto& loop : listeners_) {
        for (const auto& listener : loop) {
            listener->start();
        }
    }
    BOOST_LOG_TRIVIAL(info) << "ready: " << summary();
    manager_.ready(summary());
    loops_.run();
    if (fork_ && fork_->in_child()) {
        const int status = fork_->serve_child();
        for (const auto& service : services_) {
            service->handler->stop();
        }
        // The parent's objects stay as they are: destroying them here would join threads that
        // only exist in the parent, and remove its Unix socket files. (The console log flushes
        // every line already.)
        ::_exit(status);
    }
    for (const auto& service : services_) {
        service->handler->stop();
    }
    BOOST_LOG_TRIVIAL(info) << "stopped";
    return 0;
}

void Server::await_signal() {
    signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
        if (ec) {
            return;
        }
        // A fork-mode child handles the signals its parent passes on without a word of its own.
        const bool parent = !fork_ || !fork_->in_child();
        if (signal == SIGHUP) {
            if (parent) {
                BOOST_LOG_TRIVIAL(info) << "SIGHUP: reopening log files";
            }
            manager_.reloading();
            reopen();
            manager_.ready(summary());
            if (fork_) {
                fork_->signal_children(SIGHUP);
            }
            return await_signal();
        }
        if (parent) {
            BOOST_LOG_TRIVIAL(info) << "stopping on " << (signal == SIGTERM ? "SIGTERM" : "SIGINT");
        }
        manager_.stopping("stopping: draining connections");
        // What clients already sent is handled; the loops then run out of work and return.
        shutdown();
    });
}

void Server::sweep_idle(std::size_t loop) {
    auto& timer = *idle_sweeps_[loop];
    timer.expires_after(std::chrono::seconds(1));
    timer.async_wait([this, loop](const boost::system::error_code& ec) {
        if (ec || stopping_) {
            return;  // shutdown
        }
        close_idle_connections();
        sweep_idle(loop);
    });
}

void Server::watch_drain(std::size_t loop) {
    if (live_connections().empty()) {
        return;  // nothing keeps this loop busy any more
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= drain_deadline_) {
        BOOST_LOG_TRIVIAL(warning) << live_connections().size()
                                   << " connections still sending after shutdown_timeout; closed";
        const std::vector<Connection*> live(live_connections().begin(), live_connections().end());
        for (auto* connection : live) {
            connection->abort();
        }
        return;
    }
    auto& timer = *drain_watches_[loop];
    timer.expires_after(std::min<std::chrono::steady_clock::duration>(std::chrono::milliseconds(50),
                                                                      drain_deadline_ - now));
    timer.async_wait([this, loop](const boost::system::error_code& ec) {
        if (!ec) {
            watch_drain(loop);
        }
    });
}

void Server::reopen() {
    for (const auto& service : services_) {
        service->handler->reopen();
    }
}

void Server::shutdown() {
    stopping_ = true;
    drain_deadline_ = std::chrono::steady_clock::now() + config_->server.shutdown_timeout;
    for (std::size_t loop = 0; loop < loops_.size(); ++loop) {
        // Each loop stops its own listeners and drains its own connections, on its own thread.
        asio::post(loops_.at(loop), [this, loop] {
            idle_sweeps_[loop]->cancel();
            auto& listeners = listeners_[loop];
            for (const auto& listener : listeners) {
                listener->drain();
                listener->stop();
            }
            listeners.clear();
            // drain() closes the connection, which leaves the set once its last handler has
            // run; iterate over a copy all the same.
            const std::vector<Connection*> live(live_connections().begin(),
                                                live_connections().end());
            for (auto* connection : live) {
                connection->drain();
            }
            watch_drain(loop);
        });
    }
    if (fork_) {
        fork_->shutdown();
    }
}

std::string Server::summary() const {
    std::size_t listeners = 0;
    for (const auto& loop : listeners_) {
        listeners += loop.size();
    }
    const auto& server = config_->server;
    return std::string(config::to_string(server.mode)) + " mode" +
           (server.mode == config::Mode::pool ? " (" + std::to_string(loops_.size()) + " threads)"
                                              : std::string()) +
           ", " + std::to_string(services_.size()) + " services, " +
           std::to_string(listeners / loops_.size()) + " listeners";
}

void Server::enter_child() {
    manager_.silence();
    // signals_ stays: a child drains its connection on SIGTERM and reopens log files on SIGHUP
    // just as the parent does, and a signal that arrived during the fork is still queued there.
    for (auto& listeners : listeners_) {
        for (const auto& listener : listeners) {
            listener->abandon();
        }
        listeners.clear();
    }
    for (const auto& service : services_) {
        service->handler->enter_child();
    }
}

void Server::stop() {
    for (auto& listeners : listeners_) {
        for (const auto& listener : listeners) {
            listener->stop();
        }
        listeners.clear();
    }
}

}  // namespace netd

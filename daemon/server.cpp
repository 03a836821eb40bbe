#include "daemon/server.hpp"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/log/core.hpp>
#include <csignal>
#include <future>
#include <iostream>
#include <thread>
#include <variant>

#include "daemon/logging.hpp"
#include "daemon/socket_activation.hpp"
#include "handlers/registry.hpp"
#include "metrics/health.hpp"
#include "net/connection.hpp"

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

Server::Server(std::shared_ptr<const config::Config> config, std::vector<PassedSocket> passed,
               ConfigSource reread)
    : config_(std::move(config)),
      reread_(std::move(reread)),
      counters_(metrics::row(metrics::Family::server, "")),
      loops_(loop_count(config_->server)),
      signals_(loops_.main(), SIGINT, SIGTERM, SIGHUP),
      manager_(loops_.main()),
      drain_delay_(loops_.main()),
      passed_(std::move(passed)),
      children_(
          std::make_unique<Children>(loops_.main(), config_->server.max_children, counters_)) {
    connection_limit_.max = config_->server.max_connections;
}

bool Server::forking() const {
    return config_->server.mode == config::Mode::fork;
}

Server::~Server() {
    stop();
}

std::vector<std::shared_ptr<Service>> Server::make_services(
    const std::shared_ptr<const config::Config>& config) {
    std::vector<std::shared_ptr<Service>> services;
    for (const auto& settings : config->services) {
        ServiceMetrics metrics(settings.name, static_cast<unsigned>(loops_.size()));
        auto& load = loads_[settings.name];
        if (!load) {
            load = std::make_shared<ServiceLoad>();
        }
        auto handler = find_handler(settings.handler)->make(settings);
        if (const auto* program = handler->program()) {
            if (program->credentials && !config->server.user.empty()) {
                throw settings.error(
                    settings.options.find("user")->second.empty() ? "group" : "user",
                    "a program's user or group needs netd to keep root, and "
                    "[server] user drops it: leave that empty");
            }
            metrics.programs();  // exec's rows, found now rather than on a request
        }
        // The TLS files are read again on every reload: a bad one fails it here, before
        // anything is bound or started.
        std::shared_ptr<const TlsContext> tls;
        if (!settings.tls_settings.cert.empty()) {
            try {
                tls = std::make_shared<const TlsContext>(settings.tls_settings);
            } catch (const config::KeyError& e) {
                throw settings.error(e.key(), e.what());
            }
            if (const auto warning = tls->certificate_warning(); !warning.empty()) {
                BOOST_LOG_TRIVIAL(warning) << "[" << settings.name << "] " << warning;
            }
        }
        auto verify = std::make_shared<VerifyChain>(settings, connection_limit_, load, metrics);
        services.push_back(std::make_shared<Service>(Service{.config = config,
                                                             .settings = settings,
                                                             .handler = std::move(handler),
                                                             .metrics = std::move(metrics),
                                                             .verify = std::move(verify),
                                                             .tls = std::move(tls)}));
    }
    return services;
}

namespace {

/// What a service asks to listen on: (transport, address) for each of its listener keys.
std::vector<std::pair<Transport, ListenAddress>> addresses_of(
    const config::ServiceConfig& settings) {
    std::vector<std::pair<Transport, ListenAddress>> addresses;
    for (const auto& endpoint : settings.tcp) {
        addresses.emplace_back(Transport::tcp, endpoint);
    }
    for (const auto& endpoint : settings.tls) {
        addresses.emplace_back(Transport::tls, endpoint);
    }
    for (const auto& endpoint : settings.udp) {
        addresses.emplace_back(Transport::udp, endpoint);
    }
    for (const auto& path : settings.unix_stream) {
        addresses.emplace_back(Transport::unix_stream, path);
    }
    for (const auto& path : settings.unix_datagram) {
        addresses.emplace_back(Transport::unix_datagram, path);
    }
    return addresses;
}

}  // namespace

std::vector<Server::BoundListener> Server::open_listeners(
    const std::vector<std::shared_ptr<Service>>& services, std::vector<bool>& kept) {
    const ListenerOptions options{.shared_port = loops_.size() > 1 || config_->server.reuseport,
                                  .reuseport = config_->server.reuseport,
                                  .fork = forking(),
                                  .children = children_.get()};
    kept.assign(listeners_.size(), false);
    std::vector<BoundListener> opened;
    std::vector<bool> is_new;
    // An address the same service listens on already is kept as it is (a passed socket stays with
    // the service of its name); any other is bound, with a copy on every loop.
    const auto add = [&](const std::shared_ptr<Service>& service, Transport transport,
                         const ListenAddress& address) {
        const auto& name = service->settings.name;
        const std::string text = describe(transport, address);
        if (transport == Transport::tls) {
            // The config checked its own tls listeners; this is for a passed one (socket
            // activation's SERVICE.tls), at start and on every reload that keeps it.
            if (!service->tls) {
                throw service->settings.error("tls_cert",
                                              "is required for its tls listener (" + text + ")");
            }
            if (service->handler->program() != nullptr) {
                throw service->settings.error("handler",
                                              "exec cannot serve its tls listener (" + text +
                                                  "): the program would get the encrypted bytes");
            }
        }
        for (std::size_t i = 0; i < listeners_.size(); ++i) {
            if (!kept[i] && listeners_[i].service == name && listeners_[i].text == text) {
                kept[i] = true;
                opened.push_back(listeners_[i]);
                is_new.push_back(false);
                return;
            }
        }
        BoundListener bound{.service = name,
                            .transport = transport,
                            .address = address,
                            .text = text,
                            .copies = {}};
        bound.copies.push_back(open_listener(loops_.main(), service, transport, address, options));
        for (std::size_t loop = 1; loop < loops_.size(); ++loop) {
            bound.copies.push_back(
                on_loop(loop, [&] { return bound.copies.front()->copy_for(loops_.at(loop)); }));
        }
        opened.push_back(std::move(bound));
        is_new.push_back(true);
    };
    try {
        for (const auto& service : services) {
            for (const auto& [transport, address] : addresses_of(service->settings)) {
                add(service, transport, address);
            }
            for (const auto& listener : listeners_) {
                if (listener.passed() && listener.service == service->settings.name) {
                    add(service, listener.transport, listener.address);
                }
            }
        }
        // Start-up: what socket activation passed becomes listeners of the services it names.
        for (const auto& passed : std::exchange(passed_, {})) {
            const auto found = std::find_if(services.begin(), services.end(), [&](const auto& s) {
                return s->settings.name == passed.service;
            });
            const auto where = "socket activation: fd " + std::to_string(passed.fd) + " named '" +
                               passed.name + "'";
            if (found == services.end()) {
                throw config::ConfigError(where + " matches no service");
            }
            const auto* spec = find_handler((*found)->settings.handler);
            if (is_stream(passed.transport) ? !spec->stream : !spec->datagram) {
                throw config::ConfigError(where + ": handler '" + (*found)->settings.handler +
                                          "' does not serve " +
                                          (is_stream(passed.transport) ? "streams" : "datagrams"));
            }
            if (const auto* program = (*found)->handler->program();
                program != nullptr && program->wait == is_stream(passed.transport)) {
                throw config::ConfigError(
                    where + ": [" + passed.service + "] wait = " + (program->wait ? "yes" : "no") +
                    " does not serve " + (is_stream(passed.transport) ? "streams" : "datagrams"));
            }
            add(*found, passed.transport, AdoptedSocket{.fd = passed.fd});
        }
    } catch (...) {
        for (std::size_t i = 0; i < opened.size(); ++i) {
            if (is_new[i]) {
                stop_on_every_loop(opened[i]);
            }
        }
        throw;
    }
    return opened;
}

void Server::start_handlers(const std::vector<std::shared_ptr<Service>>& services) {
    const AsyncSignalsBlocked quiet;  // a thread a handler starts (on reload too) takes no signals
    for (std::size_t started = 0; started < services.size(); ++started) {
        const auto& service = *services[started];
        try {
            service.handler->start();
        } catch (...) {
            for (std::size_t i = 0; i < started; ++i) {
                services[i]->handler->stop();
            }
            try {
                throw;
            } catch (const config::KeyError& e) {
                throw service.settings.error(e.key(), e.what());
            } catch (const std::exception& e) {
                // Not the config's fault (no thread to be had, say), but its service's all the
                // same.
                throw config::ConfigError(log_prefix(service) + "cannot start: " + e.what());
            }
        }
    }
}

void Server::start() {
    auto services = make_services(config_);
    std::vector<bool> kept;
    auto listeners = open_listeners(services, kept);
    try {
        start_handlers(services);
    } catch (...) {
        for (const auto& listener : listeners) {
            stop_on_every_loop(listener);
        }
        throw;
    }
    for (const auto& service : services) {
        service->handler->commit();
    }
    services_ = std::move(services);
    listeners_ = std::move(listeners);
}

config::PassedServices Server::passed_services() const {
    config::PassedServices names;
    for (const auto& listener : listeners_) {
        if (listener.passed()) {
            names.insert(listener.service);
        }
    }
    return names;
}

bool Server::already_open(const BoundListener& listener) const {
    return std::any_of(listeners_.begin(), listeners_.end(), [&](const BoundListener& open) {
        return open.copies.front() == listener.copies.front();
    });
}

template <class F>
auto Server::on_loop(std::size_t loop, F f) -> decltype(f()) {
    if (!running_ || loop == 0) {
        return f();
    }
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    asio::post(loops_.at(loop), [&task] { task(); });
    return result.get();
}

void Server::note_kept_socket_file(const Service& next, const BoundListener& kept) const {
    if (!std::holds_alternative<std::string>(kept.address)) {
        return;  // an IP address, or a socket socket activation passed
    }
    const auto now = std::find_if(services_.begin(), services_.end(),
                                  [&](const auto& s) { return s->settings.name == kept.service; });
    if (now != services_.end() && (*now)->settings.unix_access != next.settings.unix_access) {
        BOOST_LOG_TRIVIAL(warning)
            << log_prefix(next) << kept.text
            << ": the socket file keeps its mode and owner; unix_mode, unix_owner and "
               "unix_group apply when netd creates the file (a restart, or a reload that adds "
               "the path after one that removed it)";
    }
}

void Server::on_every_loop(const BoundListener& listener,
                           const std::function<void(std::size_t, Listener&)>& f) {
    for (std::size_t loop = 0; loop < listener.copies.size(); ++loop) {
        asio::post(loops_.at(loop), [f, loop, copy = listener.copies[loop]] { f(loop, *copy); });
    }
}

void Server::stop_on_every_loop(const BoundListener& listener) {
    if (!running_) {
        for (const auto& copy : listener.copies) {
            copy->stop();  // no loop runs yet (a failed start): this thread is the only one
        }
        return;
    }
    // On each copy's own loop: a loop's sockets are only ever touched by its thread (the loops
    // run without Asio's per-descriptor locking, see EventLoops).
    in_turn_on_every_loop([copies = listener.copies](std::size_t loop) { copies[loop]->stop(); });
}

void Server::in_turn_on_every_loop(std::function<void(std::size_t)> step, std::size_t loop) {
    asio::post(loops_.at(loop), [this, step = std::move(step), loop]() mutable {
        step(loop);
        if (loop + 1 < loops_.size()) {
            in_turn_on_every_loop(std::move(step), loop + 1);
        }
    });
}

void Server::prepare_reload(std::shared_ptr<const config::Config>& config,
                            std::vector<std::shared_ptr<Service>>& services,
                            std::vector<BoundListener>& listeners, std::vector<bool>& kept) {
    config = reread_(passed_services());
    const auto& now = config_->server;
    const auto& next = config->server;
    for (const auto& [key, same] :
         {std::pair{"mode", now.mode == next.mode},
          {"threads", now.threads == next.threads},
          {"max_children", now.max_children == next.max_children},
          {"reuseport", now.reuseport == next.reuseport},
          {"user", now.user == next.user},
          {"group", now.group == next.group},
          {"log_target", now.log_target.kind == next.log_target.kind &&
                             now.log_target.path == next.log_target.path}}) {
        if (!same) {
            throw config::ConfigError(config->file, "server", key, "changes only with a restart");
        }
    }
    services = make_services(config);
    listeners = open_listeners(services, kept);
    try {
        start_handlers(services);
    } catch (...) {
        for (const auto& listener : listeners) {
            if (!already_open(listener)) {
                stop_on_every_loop(listener);
            }
        }
        throw;
    }
}

void Server::reload() {
    std::shared_ptr<const config::Config> config;
    std::vector<std::shared_ptr<Service>> services;
    std::vector<BoundListener> listeners;
    std::vector<bool> kept;
    try {
        prepare_reload(config, services, listeners, kept);
    } catch (const std::exception& e) {
        BOOST_LOG_TRIVIAL(error) << "reload: " << e.what()
                                 << "; the running configuration stays in effect";
        counters_.add(metrics::reload_failures);
        return;
    }
    // Committed: new connections get the new services; open ones keep the services (config,
    // handler, verifiers) they started with, alive through their shared_ptr.
    for (const auto& service : services) {
        service->handler->commit();
    }
    for (std::size_t i = 0; i < listeners_.size(); ++i) {
        if (!kept[i]) {
            stop_on_every_loop(listeners_[i]);
        }
    }
    for (const auto& listener : listeners) {
        const auto found = std::find_if(services.begin(), services.end(), [&](const auto& s) {
            return s->settings.name == listener.service;
        });
        const bool fresh = !already_open(listener);
        if (!fresh) {
            note_kept_socket_file(**found, listener);
        }
        auto service = *found;
        on_every_loop(listener, [service, fresh](std::size_t, Listener& copy) {
            copy.switch_to(service);
            if (fresh) {
                copy.start();
            }
        });
    }
    config_ = std::move(config);
    services_ = std::move(services);
    listeners_ = std::move(listeners);
    connection_limit_.max = config_->server.max_connections;
    set_log_level(config_->server.log_level);
    counters_.add(metrics::reloads);
}

int Server::run() {
    await_signal();
    for (std::size_t loop = 0; loop < loops_.size(); ++loop) {
        idle_sweeps_.push_back(std::make_unique<asio::steady_timer>(loops_.at(loop)));
        drain_watches_.push_back(std::make_unique<asio::steady_timer>(loops_.at(loop)));
        heartbeats_.push_back(std::make_unique<asio::steady_timer>(loops_.at(loop)));
        heartbeat_rows_.push_back(&metrics::heartbeat_row(static_cast<unsigned>(loop)));
        drain_graces_.push_back(std::make_unique<asio::steady_timer>(loops_.at(loop)));
        drained_.push_back(0);
        sweep_idle(loop);
        heartbeat(loop);
    }
    for (const auto& listener : listeners_) {
        for (const auto& copy : listener.copies) {
            copy->start();
        }
    }
    // The signal sets are armed: this thread, which runs loop 0, takes signals from now on (the
    // daemon blocked them before any thread started; every other thread is started with them
    // blocked), and before clients are told we are ready, so a signal sent on "ready" finds a
    // thread to take it.
    unblock_async_signals();
    BOOST_LOG_TRIVIAL(info) << "ready: " << summary();
    metrics::set_readiness(metrics::Readiness::ready);
    manager_.ready(summary());
    running_ = true;
    loops_.run();
    if (children_->in_child()) {
        serve_child();
    }
    // Drained: from here the process only exits. A signal that comes now (a second SIGTERM while
    // the objects are torn down) stays pending instead of meeting its default action once the
    // signal sets are gone and killing the process, whose status must say it stopped cleanly.
    block_async_signals();
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
        const bool parent = !children_->in_child();
        if (signal == SIGHUP) {
            // Armed again first: whatever the reload meets, the next signal is handled.
            await_signal();
            manager_.reloading();
            if (parent) {
                BOOST_LOG_TRIVIAL(info) << "SIGHUP: reloading " << config_->file;
                reload();
            }
            reopen();
            if (parent) {
                BOOST_LOG_TRIVIAL(info) << "ready: " << summary();
            }
            if (!draining_) {
                manager_.ready(summary());
            }
            children_->reopen_children();
            return;
        }
        begin_stop(signal);
    });
}

void Server::begin_stop(int signal) {
    const auto delay = config_->server.drain_delay;
    if (draining_ || children_->in_child() || delay.count() == 0) {
        return stop_now(signal, draining_);
    }
    // Not ready, still serving: a balancer's health check (/readyz) sees it and sends new
    // clients elsewhere before this process stops accepting them.
    draining_ = true;
    metrics::set_readiness(metrics::Readiness::draining);
    BOOST_LOG_TRIVIAL(info) << (signal == SIGTERM ? "SIGTERM" : "SIGINT")
                            << ": not ready; serving for drain_delay = " << delay.count()
                            << " s, then draining";
    manager_.draining("draining: not ready, serving for " + std::to_string(delay.count()) +
                      " s (drain_delay)");
    await_signal();  // SIGHUP still reloads; another SIGTERM stops at once
    drain_delay_.expires_after(delay);
    drain_delay_.async_wait([this, signal](const boost::system::error_code& ec) {
        if (!ec) {
            signals_.cancel();
            stop_now(signal, false);
        }
    });
}

void Server::stop_now(int signal, bool cut_short) {
    if (stopping_) {
        return;
    }
    if (!children_->in_child()) {
        BOOST_LOG_TRIVIAL(info) << "stopping on " << (signal == SIGTERM ? "SIGTERM" : "SIGINT")
                                << (cut_short ? " (drain_delay cut short)" : "");
    }
    draining_ = true;
    drain_delay_.cancel();
    metrics::set_readiness(metrics::Readiness::draining);
    manager_.stopping("stopping: draining connections");
    // What clients already sent is handled; the loops then run out of work and return.
    shutdown();
}

void Server::heartbeat(std::size_t loop) {
    metrics::beat(*heartbeat_rows_[loop]);
    auto& timer = *heartbeats_[loop];
    timer.expires_after(metrics::heartbeat_interval);
    timer.async_wait([this, loop](const boost::system::error_code& ec) {
        if (!ec && drained_[loop] == 0) {
            heartbeat(loop);
        }
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
    const auto now = std::chrono::steady_clock::now();
    if (!live_connections().empty() && now >= drain_deadline_) {
        BOOST_LOG_TRIVIAL(warning) << live_connections().size()
                                   << " connections still sending after shutdown_timeout; closed";
        const std::vector<Connection*> live(live_connections().begin(), live_connections().end());
        for (auto* connection : live) {
            connection->abort();
        }
    }
    if (live_connections().empty() || now >= drain_deadline_) {
        // Nothing keeps this loop busy any more: it runs out of work once the last handlers ran.
        // (A beat that is due already runs all the same, and must not arm the next.)
        drained_[loop] = 1;
        heartbeats_[loop]->cancel();
        drain_graces_[loop]->cancel();
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
    // Each loop stops its own listeners and drains its own connections, on its own thread; the
    // loops close their listeners in turn (the siblings of a reuseport group, see
    // in_turn_on_every_loop).
    in_turn_on_every_loop([this](std::size_t loop) {
        idle_sweeps_[loop]->cancel();
        for (auto& listener : listeners_) {
            listener.copies[loop]->drain();
            listener.copies[loop]->stop();
        }
        // drain() closes the connection, which leaves the set once its last handler has
        // run; iterate over a copy all the same.
        const std::vector<Connection*> live(live_connections().begin(), live_connections().end());
        for (auto* connection : live) {
            connection->drain(Drain::shutdown);
        }
        auto& grace = *drain_graces_[loop];
        grace.expires_after(first_bytes_grace);
        grace.async_wait([](const boost::system::error_code& ec) {
            if (!ec) {
                const std::vector<Connection*> silent(live_connections().begin(),
                                                      live_connections().end());
                for (auto* connection : silent) {
                    connection->drain(Drain::late);
                }
            }
        });
        watch_drain(loop);
    });
    children_->shutdown(config_->server.shutdown_timeout);
}

std::string Server::summary() const {
    const std::size_t listeners = listeners_.size();
    const auto& server = config_->server;
    return std::string(config::to_string(server.mode)) + " mode" +
           (server.mode == config::Mode::pool ? " (" + std::to_string(loops_.size()) + " threads)"
                                              : std::string()) +
           ", " + std::to_string(services_.size()) + " services, " + std::to_string(listeners) +
           " listeners";
}

void Server::serve_child() {
    // The listeners and the service manager are the parent's. signals_ stays: a child drains its
    // connection on SIGTERM and reopens log files on SIGHUP just as the parent does, and a signal
    // that arrived during the fork is still queued there.
    manager_.silence();
    // The daemon's heartbeats are its own loops': this process serves one connection.
    for (std::size_t loop = 0; loop < heartbeats_.size(); ++loop) {
        drained_[loop] = 1;
        heartbeats_[loop]->cancel();
    }
    drain_delay_.cancel();
    for (const auto& listener : listeners_) {
        for (const auto& copy : listener.copies) {
            copy->abandon();
        }
    }
    listeners_.clear();
    for (const auto& service : services_) {
        service->handler->enter_child();
    }
    const int status = children_->run_child();
    for (const auto& service : services_) {
        service->handler->stop();
    }
    // The parent's objects stay as they are: destroying them here would join threads that only
    // exist in the parent, and remove its Unix socket files. (The console log flushes every line
    // already.)
    ::_exit(status);
}

void Server::stop() {
    for (const auto& listener : listeners_) {
        for (const auto& copy : listener.copies) {
            copy->stop();
        }
    }
    listeners_.clear();
}

}  // namespace netd

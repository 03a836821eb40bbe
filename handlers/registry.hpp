#pragma once
// The handler table: name -> factory, the transports a handler serves and its own config keys.
// Like Redis's command table, it is data; an unknown name is a config error.

#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "core/name_table.hpp"
#include "handlers/handler.hpp"

namespace netd {

struct HandlerSpec {
    std::string_view name;                  ///< what `handler = ` names
    std::string_view summary;               ///< one line for --help
    bool stream = true;                     ///< serves tcp and unix listeners
    bool datagram = true;                   ///< serves udp and unixgram listeners
    std::span<const config::KeySpec> keys;  ///< keys of its own, beside the common service keys
    /// Builds the handler from the service's options; throws config::KeyError for a bad value of
    /// one of its keys, so that validation can name file, section and key. Cheap and free of side
    /// effects: validation (and --check-config) calls it too.
    std::unique_ptr<Handler> (*make)(const config::ServiceConfig& service);
};

/// A handler's own key, parsed by parse(const std::string&), which throws config::ValueError for a
/// bad value; that becomes a config::KeyError naming the key, so validation can report file,
/// section, key.
template <class Parse>
auto parse_option(const config::ServiceConfig& service, std::string_view key, Parse parse) {
    const auto found = service.options.find(key);
    const std::string value = found == service.options.end() ? std::string() : found->second;
    try {
        return parse(value);
    } catch (const config::ValueError& e) {
        throw config::KeyError(key, e.what());
    }
}

/// The registered handlers, built-ins first.
std::span<const HandlerSpec> handlers();

/// The handler registered under name, or nullptr.
const HandlerSpec* find_handler(std::string_view name);

/// Adds a handler (tests and embedders do this before loading a config). A name that is already
/// registered is replaced.
void register_handler(const HandlerSpec& spec);

}  // namespace netd

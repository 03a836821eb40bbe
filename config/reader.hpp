#pragma once
// Reading the command line and the INI file into a RawConfig, with Boost.Program_options doing the
// tokenising. Keys are not checked here (build_config does that), only the shape of what was
// written.

#include <span>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace netd::config {

/// The default --config; the repository's config/netd.ini is what the README's run command passes.
inline constexpr std::string_view default_config_path = "/etc/netd/netd.ini";

struct CommandLine {
    bool help = false;
    bool version = false;
    bool check_config = false;
    RawConfig raw;  ///< the file's settings, then the command line's --section.key=value on top
};

/// Parses argv and reads the config file it names; throws ConfigError with a one-line message.
CommandLine read_command_line(int argc, const char* const argv[]);

/// Reads one INI file (Program_options' dialect: [section], key = value, # comments).
RawConfig read_config_file(const std::string& path);

/// One of netd's own command-line options (everything else is a --SECTION.KEY=VALUE setting);
/// the same rows make the parser, --help and the netd(8) manual.
struct OptionSpec {
    std::string_view name;        ///< the long name, without "--"
    char letter = '\0';           ///< a one-letter form, or '\0' for none
    std::string_view value_name;  ///< the value's placeholder; "" for a flag
    std::string_view help;
};

std::span<const OptionSpec> command_line_options();

/// The forms of a netd command line after "netd ", as --help's usage and the manual's synopsis.
std::span<const std::string_view> usage_forms();

/// The usage text for --help, without the key list.
std::string usage_text();

}  // namespace netd::config

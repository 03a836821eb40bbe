#include "config/reader.hpp"

#include <algorithm>
#include <array>
#include <boost/program_options.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <vector>

namespace netd::config {

namespace po = boost::program_options;

namespace {

/// text for a one-line message: control and non-ASCII bytes as \xHH, at most 60 bytes of it.
std::string printable(std::string_view text) {
    constexpr std::size_t longest = 60;
    std::string out;
    for (const char c : text.substr(0, longest)) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte >= 0x7f) {
            constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[byte >> 4];
            out += hex[byte & 0xf];
        } else {
            out += c;
        }
    }
    if (text.size() > longest) {
        out += "...";
    }
    return out;
}

constexpr std::array<OptionSpec, 4> option_table{{
    {"help", 'h', "", "print this help with every config key, its default and meaning"},
    {"version", '\0', "", "print the version"},
    {"check-config", '\0', "", "validate the configuration, print the effective one, exit 0 or 1"},
    {"config", '\0', "PATH", "INI file to read (default /etc/netd/netd.ini; /dev/null for none)"},
}};

constexpr std::array<std::string_view, 3> usage_table{
    "[--config PATH] [--SECTION.KEY=VALUE ...]",
    "--check-config [--config PATH] [--SECTION.KEY=VALUE ...]",
    "--help | --version",
};

po::options_description generic_options() {
    po::options_description generic("Options");
    for (const auto& option : option_table) {
        std::string names(option.name);
        if (option.letter != '\0') {
            names.append(",").push_back(option.letter);
        }
        const std::string help(option.help);
        if (option.value_name.empty()) {
            generic.add_options()(names.c_str(), help.c_str());
        } else {
            generic.add_options()(
                names.c_str(), po::value<std::string>()->value_name(std::string(option.value_name)),
                help.c_str());
        }
    }
    return generic;
}

/// "section.key" -> {section, key}; the key part may not be empty.
std::pair<std::string, std::string> split_dotted(std::string_view dotted) {
    const auto dot = dotted.find('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 1 == dotted.size()) {
        return {};
    }
    return {std::string(dotted.substr(0, dot)), std::string(dotted.substr(dot + 1))};
}

/// The value of [server] include_dir that applies (the command line's over the file's), with
/// where it was set; {} when it is unset or empty.
std::optional<Setting> include_dir_setting(const RawConfig& file, const RawConfig& overrides) {
    for (const auto* raw : {&overrides, &file}) {
        const auto server = raw->sections.find("server");
        if (server == raw->sections.end()) {
            continue;
        }
        const auto found = server->second.find("include_dir");
        if (found != server->second.end()) {
            if (trim(found->second.value).empty()) {
                return std::nullopt;
            }
            return found->second;
        }
    }
    return std::nullopt;
}

/// Adds the sections of every *.ini file in the include directory, in name order, to raw (read
/// from main_file); a section two files define, or [server] outside the main file, is an error
/// naming both places.
void read_include_dir(RawConfig& raw, const Setting& include_dir) {
    namespace fs = std::filesystem;
    const std::string_view where = include_dir.origin;
    fs::path dir(std::string(trim(include_dir.value)));
    if (dir.is_relative() && where != command_line_origin) {
        dir = fs::path(raw.file).parent_path() / dir;  // relative to the file that names it
    }
    const auto set_in = [&](std::string_view why) {
        return ConfigError(where, "server", "include_dir",
                           "'" + dir.string() + "': " + std::string(why));
    };
    std::vector<fs::path> files;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->path().extension() == ".ini") {
            files.push_back(it->path());
        }
    }
    if (ec) {
        throw set_in(ec.message());
    }
    std::sort(files.begin(), files.end());
    std::map<std::string, std::string> defined_in;
    for (const auto& section : raw.section_order) {
        defined_in[section] = raw.file;
    }
    for (const auto& file : files) {
        RawConfig included;
        try {
            included = read_config_file(file.string());
        } catch (const ConfigError& e) {
            throw ConfigError(std::string(e.what()) + " (in [server] include_dir, " +
                              std::string(where) + ")");
        }
        for (const auto& section : included.section_order) {
            if (section == "server") {
                throw ConfigError(file.string() + ": [server] belongs in the main file, " +
                                  raw.file);
            }
            const auto [place, fresh] = defined_in.emplace(section, file.string());
            if (!fresh) {
                throw ConfigError(file.string() + ": [" + section + "] is also defined in " +
                                  place->second + " (a section is defined in one file)");
            }
            raw.section_order.push_back(section);
            raw.sections[section] = included.sections[section];
        }
    }
}

}  // namespace

RawConfig read_config_file(const std::string& path) {
    std::ifstream file(path);
    if (!file) {
        throw ConfigError(path + ": cannot open: " + std::strerror(errno));
    }
    std::stringstream text;
    text << file.rdbuf();
    if (file.bad()) {
        throw ConfigError(path + ": cannot read: " + std::strerror(errno));
    }

    RawConfig raw;
    raw.file = path;
    // Program_options reports keys, not sections: find the headers first so an empty section
    // is still a section (a service without listeners, which validation rejects by name).
    // Lines that are none of blank, comment, [section] or key = value are reported here, by
    // number: Program_options would put the line into its message through a token replacement
    // that never ends when the line itself holds such a token ("%invalid_line%").
    std::string line;
    for (std::size_t number = 1; std::getline(text, line); ++number) {
        const auto stripped = trim(std::string_view(line).substr(0, line.find('#')));
        const bool header =
            stripped.size() >= 2 && stripped.front() == '[' && stripped.back() == ']';
        if (!stripped.empty() && !header && stripped.find('=') == std::string_view::npos) {
            throw ConfigError(path + ":" + std::to_string(number) +
                              ": not a [section], a key = value or a # comment: '" +
                              printable(stripped) + "'");
        }
        if (header) {
            const std::string name(trim(stripped.substr(1, stripped.size() - 2)));
            if (!raw.sections.contains(name)) {
                raw.section_order.push_back(name);
                raw.sections[name];
            }
        }
    }
    text.clear();
    text.seekg(0);

    po::parsed_options parsed(nullptr);
    try {
        parsed = po::parse_config_file(text, po::options_description(), true);
    } catch (const po::error& e) {
        throw ConfigError(path + ": " + e.what());
    }
    for (const auto& option : parsed.options) {
        auto [section, key] = split_dotted(option.string_key);
        if (section.empty()) {
            throw ConfigError(path + ": '" + option.string_key + "' is outside any [section]");
        }
        const auto& settings = raw.sections[section];
        if (settings.contains(key)) {
            throw ConfigError(path, section, key, "given more than once");
        }
        raw.set(section, key, Setting{option.value.empty() ? "" : option.value.front(), path});
    }
    return raw;
}

CommandLine read_command_line(int argc, const char* const argv[]) {
    const auto generic = generic_options();
    po::parsed_options parsed(nullptr);
    po::variables_map vm;
    try {
        parsed = po::command_line_parser(argc, argv)
                     .options(generic)
                     .style(po::command_line_style::default_style &
                            ~po::command_line_style::allow_guessing)
                     .allow_unregistered()
                     .run();
        po::store(parsed, vm);
        po::notify(vm);
    } catch (const po::error& e) {
        throw ConfigError(std::string(command_line_origin) + ": " + e.what());
    }

    CommandLine result;
    result.help = vm.count("help") > 0;
    result.version = vm.count("version") > 0;
    result.check_config = vm.count("check-config") > 0;
    if (result.help || result.version) {
        return result;
    }

    const std::string path =
        vm.count("config") ? vm["config"].as<std::string>() : std::string(default_config_path);

    RawConfig overrides;
    for (const auto& option : parsed.options) {
        if (!option.unregistered && option.position_key < 0) {
            continue;
        }
        const std::string token =
            option.original_tokens.empty() ? option.string_key : option.original_tokens.front();
        if (option.position_key >= 0 || !token.starts_with("--")) {
            throw ConfigError(std::string(command_line_origin) + ": unexpected argument '" + token +
                              "' (settings are written --section.key=value)");
        }
        const auto equals = token.find('=');
        const auto [section, key] = split_dotted(std::string_view(token).substr(2, equals - 2));
        if (section.empty()) {
            throw ConfigError(std::string(command_line_origin) + ": unknown option '" + token +
                              "' (see --help)");
        }
        if (equals == std::string::npos) {
            std::string usage = "needs a value: --";
            usage.append(section).append(".").append(key).append("=VALUE");
            throw ConfigError(command_line_origin, section, key, usage);
        }
        if (overrides.sections.contains(section) && overrides.sections[section].contains(key)) {
            throw ConfigError(command_line_origin, section, key, "given more than once");
        }
        overrides.set(section, key,
                      Setting{token.substr(equals + 1), std::string(command_line_origin)});
    }

    // The file, then the files of its include directory, then the command line on top.
    result.raw = read_config_file(path);
    if (const auto include_dir = include_dir_setting(result.raw, overrides)) {
        read_include_dir(result.raw, *include_dir);
    }
    for (const auto& section : overrides.section_order) {
        for (const auto& [key, setting] : overrides.sections[section]) {
            result.raw.set(section, key, setting);
        }
    }
    return result;
}

std::span<const OptionSpec> command_line_options() {
    return option_table;
}

std::span<const std::string_view> usage_forms() {
    return usage_table;
}

std::string usage_text() {
    std::ostringstream out;
    std::string_view lead = "Usage: netd ";
    for (const auto form : usage_table) {
        out << lead << form << "\n";
        lead = "       netd ";
    }
    out << "\nEvery config key [SECTION] KEY = VALUE can also be given as --SECTION.KEY=VALUE;\n"
           "the command line wins over the file.\n\n"
        << generic_options() << "\nConfig keys (with defaults):\n";
    return out.str();
}

}  // namespace netd::config

// netd-man: writes a manual page from its template (man/*.in) and the tables netd itself reads
// its command line and configuration by, so that `netd --help`, netd(8) and netd.ini(5) cannot
// disagree: the options, the usage forms and every key with its default and meaning come from
// the same rows (config/reader.cpp, config/config.cpp, each handler's spec via the catalog).
//
//   netd-man TEMPLATE OUTPUT
//
// A template is roff. A line that is only @NAME@ is replaced by generated roff:
//   @SYNOPSIS@      the usage forms          @OPTIONS@      netd's own options
//   @SERVER_KEYS@   the keys of [server]     @SERVICE_KEYS@ the keys every service has
//   @HANDLERS@      each handler: what it does, its transports, its own keys
// and @VERSION@ anywhere is netd's version.

#include <cctype>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <regex>
#include <span>
#include <sstream>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "config/reader.hpp"
#include "daemon/catalog.hpp"

namespace {

/// text for a roff line: a backslash printed as such, '-' as the minus sign (option names and
/// values are typed, so they must survive a copy from the page), and no leading '.' or '\''
/// that roff would read as a request.
std::string code(std::string_view text) {
    std::string out;
    for (const char c : text) {
        if (c == '\\') {
            out += "\\e";
        } else if (c == '-') {
            out += "\\-";
        } else {
            out += c;
        }
    }
    return out;
}

/// Running text: only backslashes and a leading control character need care; hyphens stay
/// hyphens.
std::string prose(std::string_view text) {
    std::string out = (!text.empty() && (text.front() == '.' || text.front() == '\''))
                          ? std::string("\\&")
                          : std::string();
    for (const char c : text) {
        out += c == '\\' ? std::string("\\e") : std::string(1, c);
    }
    return out;
}

/// A usage form with option names in bold and placeholders (PATH, SECTION) in italics.
std::string usage_form(std::string_view form) {
    std::string out;
    std::size_t i = 0;
    while (i < form.size()) {
        const auto run = [&](auto in_run) {
            std::size_t end = i;
            while (end < form.size() && in_run(form[end])) {
                ++end;
            }
            return form.substr(i, end - i);
        };
        if (form.substr(i).starts_with("--") && i + 2 < form.size() &&
            std::islower(static_cast<unsigned char>(form[i + 2]))) {
            const auto name = run([](char c) { return std::islower(c) || c == '-'; });
            out += "\\fB" + code(name) + "\\fR";
            i += name.size();
        } else if (std::isupper(static_cast<unsigned char>(form[i]))) {
            const auto name = run([](char c) { return std::isupper(c) || c == '_'; });
            out += "\\fI" + code(name) + "\\fR";
            i += name.size();
        } else {
            out += code(form.substr(i, 1));
            ++i;
        }
    }
    return out;
}

void synopsis(std::ostream& out) {
    std::string_view separator;
    for (const auto form : netd::config::usage_forms()) {
        out << separator << "\\fBnetd\\fR " << usage_form(form) << "\n";
        separator = ".br\n";
    }
}

void options(std::ostream& out) {
    for (const auto& option : netd::config::command_line_options()) {
        out << ".TP\n";
        if (option.letter != '\0') {
            out << R"(\fB\-)" << option.letter << R"(\fR, )";
        }
        out << R"(\fB\-\-)" << code(option.name) << R"(\fR)";
        if (!option.value_name.empty()) {
            out << " \\fI" << code(option.value_name) << "\\fR";
        }
        // The meaning always starts on a line of its own, however short the tag.
        out << "\n.br\n" << prose(option.help) << "\n";
    }
}

/// One key as a tagged paragraph: "name = default", then its meaning (the --help row).
void keys(std::ostream& out, std::span<const netd::config::KeySpec> specs) {
    for (const auto& key : specs) {
        out << ".TP\n\\fB" << code(key.name) << "\\fR =";
        if (!key.default_value.empty()) {
            out << " \\fI" << code(key.default_value) << "\\fR";
        }
        out << "\n.br\n" << prose(key.help) << "\n";
    }
}

void handlers(std::ostream& out) {
    for (const auto& handler : netd::catalog().handlers) {
        out << ".SS " << code(handler.name) << "\n" << prose(handler.summary) << ".\n.PP\n";
        if (handler.stream && handler.datagram) {
            out << "Streams and datagrams: \\fBtcp\\fR, \\fBudp\\fR, \\fBunix\\fR, "
                   "\\fBunixgram\\fR.\n";
        } else if (handler.stream) {
            out << "Streams only: \\fBtcp\\fR, \\fBunix\\fR.\n";
        } else {
            out << "Datagrams only: \\fBudp\\fR, \\fBunixgram\\fR.\n";
        }
        if (handler.keys.empty()) {
            out << "No keys of its own.\n";
        } else {
            out << "Its own keys:\n";
            keys(out, handler.keys);
        }
    }
}

}  // namespace

int main(int argc, char* argv[]) {
    if (argc != 3) {
        std::cerr << "usage: netd-man TEMPLATE OUTPUT\n";
        return 2;
    }
    std::ifstream in(argv[1]);
    if (!in) {
        std::cerr << "netd-man: cannot read " << argv[1] << "\n";
        return 1;
    }
    const std::map<std::string, std::function<void(std::ostream&)>, std::less<>> sections{
        {"@SYNOPSIS@", synopsis},
        {"@OPTIONS@", options},
        {"@SERVER_KEYS@", [](std::ostream& out) { keys(out, netd::config::server_keys()); }},
        {"@SERVICE_KEYS@", [](std::ostream& out) { keys(out, netd::config::service_keys()); }},
        {"@HANDLERS@", handlers},
    };
    std::ostringstream page;
    std::string line;
    for (std::size_t number = 1; std::getline(in, line); ++number) {
        if (const auto found = sections.find(line); found != sections.end()) {
            found->second(page);
            continue;
        }
        for (auto at = line.find("@VERSION@"); at != std::string::npos;
             at = line.find("@VERSION@")) {
            line.replace(at, std::string_view("@VERSION@").size(), NETD_VERSION);
        }
        static const std::regex placeholder("@[A-Z_]+@");
        if (std::regex_search(line, placeholder)) {
            std::cerr << argv[1] << ":" << number << ": unknown placeholder: " << line << "\n";
            return 1;
        }
        page << line << "\n";
    }
    // Written whole, or not at all: make must never see half a page as up to date.
    const std::string temporary = std::string(argv[2]) + ".tmp";
    std::ofstream out(temporary);
    out << page.str();
    out.close();
    if (!out || std::rename(temporary.c_str(), argv[2]) != 0) {
        std::cerr << "netd-man: cannot write " << argv[2] << "\n";
        return 1;
    }
    return 0;
}

// The config reader and validator: any file is either a valid config or a ConfigError (the one-line
// "FILE: [section] key: reason" message); nothing else escapes, nothing crashes. Each handler's
// own keys are parsed too, as --check-config does.

#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "config/config.hpp"
#include "config/reader.hpp"
#include "daemon/catalog.hpp"
#include "fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const int fd = ::memfd_create("netd-fuzz.ini", 0);
    if (fd < 0 || ::ftruncate(fd, 0) != 0 ||
        ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) {
        netd::fuzz::fail("memfd");
    }
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    try {
        const auto config =
            netd::config::build_config(netd::config::read_config_file(path), netd::catalog());
        if (config->services.empty() && config->file.empty()) {
            return 0;
        }
    } catch (const netd::config::ConfigError& e) {
        const std::string what = e.what();
        if (what.empty() || what.find('\n') != std::string::npos) {
            netd::fuzz::fail("a config error that is not one line");
        }
    }
    return 0;
}

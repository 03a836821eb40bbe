// The logger's records: whatever a client sends, a record is exactly one line; the text format
// carries no control byte; the JSON format is valid JSON whose message is the client's text when
// that text is valid UTF-8.

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <string>

#include "fuzz/fuzz_input.hpp"
#include "handlers/logger/log_record.hpp"
#include "handlers/logger/syslog.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    netd::fuzz::Input in(data, size);
    const bool truncated = in.pick(2) == 1;
    const std::string_view bytes = in.rest();
    const auto message = netd::parse_syslog(bytes);
    const netd::RecordContext context{.received = "2026-11-23T00:00:00.000000Z",
                                      .peer = "127.0.0.1:5000",
                                      .service = "log",
                                      .credentials = {}};
    for (const auto format : {netd::RecordFormat::text, netd::RecordFormat::json}) {
        std::string record;
        netd::append_record(record, format, context, message, truncated);
        if (record.empty() || record.back() != '\n' || record.find('\n') != record.size() - 1) {
            netd::fuzz::fail("a record is not exactly one line");
        }
        for (std::size_t i = 0; i + 1 < record.size(); ++i) {
            const auto c = static_cast<unsigned char>(record[i]);
            if (c < 0x20 || c == 0x7f) {
                netd::fuzz::fail("a control byte in a record");
            }
        }
        if (format == netd::RecordFormat::json) {
            boost::system::error_code ec;
            const auto value = boost::json::parse(record, ec);
            if (ec || !value.is_object() || !value.as_object().contains("message")) {
                netd::fuzz::fail("a JSON record does not parse");
            }
        }
    }
    return 0;
}

#include "handlers/strftime.hpp"

#include <boost/test/unit_test.hpp>
#include <cstring>

using namespace netd;

BOOST_AUTO_TEST_SUITE(strftime_guard)

BOOST_AUTO_TEST_CASE(posix_conversions_pass) {
    for (const auto* format :
         {"%a %A %b %B %c %C %d %D %e %F %g %G %h %H %I %j %m %M %n %p %r %R %S %t %T %u %U %V",
          "%w %W %x %X %y %Y %z %Z %%", "%Ec %EC %Ex %EX %Ey %EY",
          "%Od %Oe %OH %OI %Om %OM %OS %Ou %OU %OV %Ow %OW %Oy", "plain text, no conversions",
          ""}) {
        BOOST_TEST(check_format(format).empty(), format << ": " << check_format(format));
    }
}

BOOST_AUTO_TEST_CASE(everything_else_is_refused_with_a_reason) {
    BOOST_TEST(check_format("%k") == "unsupported conversion %k");
    BOOST_TEST(check_format("%s") == "unsupported conversion %s");
    BOOST_TEST(check_format("%P") == "unsupported conversion %P");
    BOOST_TEST(check_format("%+") == "unsupported conversion %+");
    BOOST_TEST(check_format("%-d") == "unsupported conversion %-d");
    BOOST_TEST(check_format("%5Y") == "unsupported conversion %5Y");
    BOOST_TEST(check_format("%10d x") == "unsupported conversion %10d");
    BOOST_TEST(check_format("%_") == "unsupported conversion %_");
    BOOST_TEST(check_format("%Ek") == "unsupported conversion %Ek");
    BOOST_TEST(check_format("%Od %OY") == "unsupported conversion %OY");
    BOOST_TEST(check_format("%E") == "format ends in %E");
    BOOST_TEST(check_format("100%") == "format ends in a lone %");
    BOOST_TEST(check_format("a\tb") == "control byte in format");
    BOOST_TEST(check_format(std::string("a\0b", 3)) == "control byte in format");
    BOOST_TEST(check_format("%\x01") == "control byte in format");
    BOOST_TEST(check_format(std::string(256, 'x')).empty());
    BOOST_TEST(check_format(std::string(257, 'x')) == "format longer than 256 bytes");
}

BOOST_AUTO_TEST_CASE(output_equals_strftime_and_is_bounded) {
    const std::tm when = broken_down(1'700'000'000, TimeZone::utc);  // 2023-11-14 22:13:20 UTC
    BOOST_TEST(*format_time("%Y-%m-%d %H:%M:%S", when) == "2023-11-14 22:13:20");
    BOOST_TEST(*format_time("%j %U %V %G %e|%C", when) == "318 46 46 2023 14|20");
    BOOST_TEST(format_time("", when)->empty());  // empty output is not an error
    std::string sixty_c;
    for (int i = 0; i < 60; ++i) {
        sixty_c += "%c";
    }
    BOOST_TEST(!format_time(sixty_c, when).has_value());
    BOOST_TEST(format_time(std::string(1024, 'x'), when)->size() == 1024U);
    BOOST_TEST(!format_time(std::string(1025, 'x'), when).has_value());
}

BOOST_AUTO_TEST_CASE(time_zones) {
    BOOST_TEST((parse_time_zone("utc") == TimeZone::utc));
    BOOST_TEST((parse_time_zone("local") == TimeZone::local));
    BOOST_CHECK_THROW(parse_time_zone("mars"), std::exception);
}

BOOST_AUTO_TEST_SUITE_END()

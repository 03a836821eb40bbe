#define BOOST_TEST_MODULE netd unit tests
#include <boost/test/unit_test.hpp>

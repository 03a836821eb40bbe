#pragma once
// NETD_THREAD_SANITIZER is 1 in a ThreadSanitizer build (g++ or clang), where a few things are
// done another way because the sanitizer's runtime cannot follow them (each says why).
// NETD_NOT_ON_ASAN_STACK marks a function that runs on a stack of netd's own making (a program's
// child, daemon/spawn.cpp): AddressSanitizer, not knowing that stack, would warn at its exit.

#if defined(__SANITIZE_THREAD__)
#define NETD_THREAD_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NETD_THREAD_SANITIZER 1
#endif
#endif
#ifndef NETD_THREAD_SANITIZER
#define NETD_THREAD_SANITIZER 0
#endif

#define NETD_NOT_ON_ASAN_STACK __attribute__((no_sanitize("address")))

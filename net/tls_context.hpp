#pragma once
// What a service's TLS connections are made with (SPEC 9): one OpenSSL context (through
// boost::asio::ssl::context) holding the service's certificate and key, the CA its clients must
// be signed by, and the oldest TLS version it accepts, read from the files its keys name.
//
// Made with the service, at start and again on every reload, so that a reload reads the files
// anew: a bad file fails that reload (the running services keep their contexts), and connections
// accepted after a good one get the new certificate while open ones keep theirs. One context
// serves every loop's connections (OpenSSL lets threads share one) and is inherited by fork
// mode's children, whose handshakes then resume the same session tickets.

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <string>

#include "config/config.hpp"

namespace netd {

class TlsContext {
  public:
    /// Reads the files settings names and checks that the key is the certificate's; throws
    /// config::KeyError naming the key (tls_cert, tls_key, tls_ca) whose file cannot be used.
    explicit TlsContext(const config::TlsSettings& settings);
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;

    SSL_CTX* native() const { return context_.native_handle(); }

    /// tls_timeout: how long a client has for the whole handshake.
    std::chrono::seconds handshake_timeout() const { return timeout_; }

    /// Whether clients must present a certificate (tls_ca is set).
    bool verifies_clients() const { return verifies_clients_; }

    /// A warning worth logging about the certificate ("" if none): it has expired, or is not
    /// valid yet. Clients refuse such a certificate, but netd serves it: replacing it and
    /// reloading must be possible without a restart.
    std::string certificate_warning() const;

  private:
    // native() hands out the SSL_CTX, which OpenSSL's functions take as non-const.
    mutable boost::asio::ssl::context context_;
    std::chrono::seconds timeout_;
    bool verifies_clients_ = false;
};

}  // namespace netd

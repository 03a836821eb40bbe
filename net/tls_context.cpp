#include "net/tls_context.hpp"

#include <openssl/x509.h>

#include <memory>
#include <string_view>

#include "config/tls_files.hpp"

namespace netd {

namespace asio_ssl = boost::asio::ssl;

namespace {

/// Full TLS records OpenSSL's read buffer holds.
constexpr std::size_t read_ahead_records = 4;

struct BioFree {
    void operator()(BIO* bio) const { ::BIO_free(bio); }
};

/// An ASN.1 time as OpenSSL prints it ("Jan  1 00:00:00 2030 GMT").
std::string time_text(const ASN1_TIME* time) {
    const std::unique_ptr<BIO, BioFree> out(::BIO_new(::BIO_s_mem()));
    if (!out || ::ASN1_TIME_print(out.get(), time) != 1) {
        return "?";
    }
    char* data = nullptr;
    const long size = ::BIO_get_mem_data(out.get(), &data);
    return {data, static_cast<std::size_t>(size)};
}

}  // namespace

TlsContext::TlsContext(const config::TlsSettings& settings)
    : context_(asio_ssl::context::tls_server), timeout_(settings.timeout) {
    SSL_CTX* ctx = context_.native_handle();
    context_.set_options(asio_ssl::context::default_workarounds |
                         asio_ssl::context::no_compression | asio_ssl::context::no_sslv2 |
                         asio_ssl::context::no_sslv3 | asio_ssl::context::no_tlsv1 |
                         asio_ssl::context::no_tlsv1_1);
    // No renegotiation (TLS 1.2; 1.3 has none): a client cannot make the server redo the
    // costly part of a handshake on an open connection. A client that closes without
    // close_notify has ended its input, as over plain TCP: nothing the services read could be
    // truncated into a different meaning.
    ::SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                                   SSL_OP_CIPHER_SERVER_PREFERENCE);
    ::SSL_CTX_set_min_proto_version(
        ctx, settings.min_version == config::TlsVersion::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    // How TlsStream drives the SSL object: a write returns once a record is sent, and one that
    // would block is retried with the same bytes from another address (the connection keeps
    // them in its pending reply); buffers are freed while a connection is idle.
    ::SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                SSL_MODE_RELEASE_BUFFERS);
    // Read what the socket holds, up to four full records at once, not one record header and
    // one record at a time: a 64 KiB message takes one read where it took five (TlsStream knows
    // OpenSSL may then hold input the socket no longer shows). The buffer is freed again once
    // it is read out.
    ::SSL_CTX_set_read_ahead(ctx, 1);
    ::SSL_CTX_set_default_read_buffer_len(
        ctx, read_ahead_records * (SSL3_RT_MAX_PLAIN_LENGTH + SSL3_RT_MAX_ENCRYPTED_OVERHEAD +
                                   SSL3_RT_HEADER_LENGTH));
    // No session cache: it would be a lock for pool mode's threads, and useless to fork mode's
    // children. TLS 1.2 clients resume with the stateless tickets of the handshake. TLS 1.3
    // sends its tickets after the handshake instead, and a client that only sends (a syslog
    // forwarder) never reads them: its kernel then answers its own close with a reset, which
    // can destroy the last records it sent before netd read them. So none are sent, and every
    // TLS 1.3 connection is a full handshake.
    ::SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    ::SSL_CTX_set_num_tickets(ctx, 0);
    static constexpr std::string_view session_context = "netd";
    ::SSL_CTX_set_session_id_context(ctx,
                                     reinterpret_cast<const unsigned char*>(session_context.data()),
                                     static_cast<unsigned>(session_context.size()));
    ::SSL_CTX_set_dh_auto(ctx, 1);
    // Read by config/tls_files: bounded, and an encrypted key is an error, never a prompt.
    config::use_certificate_and_key(ctx, {"tls_cert", settings.cert}, {"tls_key", settings.key});
    if (settings.ca.empty()) {
        return;
    }
    // Every certificate of the file is trusted to sign clients' certificates, and named to
    // clients in the handshake (which tells them which of theirs to present).
    config::trust_certificates(ctx, {"tls_ca", settings.ca}, config::NameToClients::yes);
    context_.set_verify_mode(asio_ssl::verify_peer | asio_ssl::verify_fail_if_no_peer_cert);
    verifies_clients_ = true;
}

std::string TlsContext::certificate_warning() const {
    const X509* certificate = ::SSL_CTX_get0_certificate(native());
    if (certificate == nullptr) {
        return {};
    }
    if (::X509_cmp_current_time(::X509_get0_notAfter(certificate)) < 0) {
        return "the certificate of tls_cert expired on " +
               time_text(::X509_get0_notAfter(certificate)) + ": clients will refuse it";
    }
    if (::X509_cmp_current_time(::X509_get0_notBefore(certificate)) > 0) {
        return "the certificate of tls_cert is not valid before " +
               time_text(::X509_get0_notBefore(certificate)) + ": clients will refuse it";
    }
    return {};
}

}  // namespace netd

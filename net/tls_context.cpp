#include "net/tls_context.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <array>
#include <boost/asio/buffer.hpp>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string_view>

namespace netd {

namespace asio_ssl = boost::asio::ssl;

namespace {

/// Full TLS records OpenSSL's read buffer holds.
constexpr std::size_t read_ahead_records = 4;

/// The largest PEM file read: a certificate or key is a few KiB, a CA bundle a few hundred.
constexpr std::size_t max_pem_size = std::size_t{16} * 1024 * 1024;

/// The contents of the file at path, which key names; throws KeyError when it cannot be read.
std::string read_file(const std::string& path, std::string_view key) {
    const auto fail = [&](const std::string& why) {
        return config::KeyError(key, "cannot read '" + path + "': " + why);
    };
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        throw fail(std::strerror(errno));
    }
    std::string text;
    std::array<char, 16384> chunk{};
    for (;;) {
        const ssize_t n = ::read(fd, chunk.data(), chunk.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            const int error = errno;
            ::close(fd);
            throw fail(std::strerror(error));
        }
        if (n == 0) {
            break;
        }
        text.append(chunk.data(), static_cast<std::size_t>(n));
        if (text.size() > max_pem_size) {
            ::close(fd);
            throw fail("larger than 16 MiB, which no PEM file of certificates or keys is");
        }
    }
    ::close(fd);
    return text;
}

/// OpenSSL's reason for the error at the head of its queue, which is then emptied.
std::string openssl_reason() {
    const unsigned long code = ::ERR_get_error();
    ::ERR_clear_error();
    if (code == 0) {
        return "no reason given";
    }
    return boost::system::error_code(static_cast<int>(code), boost::asio::error::get_ssl_category())
        .message();
}

struct BioFree {
    void operator()(BIO* bio) const { ::BIO_free(bio); }
};
struct X509Free {
    void operator()(X509* certificate) const { ::X509_free(certificate); }
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
    // An encrypted key would make OpenSSL ask for its passphrase on the terminal: never.
    context_.set_password_callback(
        [](std::size_t, asio_ssl::context::password_purpose) { return std::string(); });

    ::ERR_clear_error();
    const std::string certificate = read_file(settings.cert, "tls_cert");
    boost::system::error_code ec;
    context_.use_certificate_chain(boost::asio::buffer(certificate), ec);
    if (ec) {
        ::ERR_clear_error();
        throw config::KeyError(
            "tls_cert",
            "'" + settings.cert + "' holds no PEM certificate OpenSSL can use: " + ec.message());
    }
    const std::string key = read_file(settings.key, "tls_key");
    context_.use_private_key(boost::asio::buffer(key), asio_ssl::context::pem, ec);
    const auto code = static_cast<unsigned long>(ec.value());
    if (ec && !(ERR_GET_LIB(code) == ERR_LIB_X509 &&
                ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH)) {
        ::ERR_clear_error();
        throw config::KeyError(
            "tls_key",
            "'" + settings.key + "' holds no unencrypted PEM private key: " + ec.message());
    }
    if (ec || ::SSL_CTX_check_private_key(ctx) != 1) {
        ::ERR_clear_error();
        throw config::KeyError("tls_key", "'" + settings.key +
                                              "' is not the private key of the certificate in '" +
                                              settings.cert + "'");
    }
    if (settings.ca.empty()) {
        return;
    }
    // Every certificate of the file is trusted to sign clients' certificates, and named to
    // clients in the handshake (which tells them which of theirs to present).
    const std::string authorities = read_file(settings.ca, "tls_ca");
    const std::unique_ptr<BIO, BioFree> in(
        ::BIO_new_mem_buf(authorities.data(), static_cast<int>(authorities.size())));
    X509_STORE* store = ::SSL_CTX_get_cert_store(ctx);
    int count = 0;
    while (in) {
        const std::unique_ptr<X509, X509Free> authority(
            ::PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr));
        if (!authority) {
            break;
        }
        if (::X509_STORE_add_cert(store, authority.get()) != 1 ||
            ::SSL_CTX_add_client_CA(ctx, authority.get()) != 1) {
            throw config::KeyError("tls_ca", "'" + settings.ca + "': certificate " +
                                                 std::to_string(count + 1) +
                                                 " cannot be used: " + openssl_reason());
        }
        ++count;
    }
    // The loop ends at the first thing that is no certificate: the end of the file (no start
    // line), or a broken one.
    const unsigned long last = ::ERR_peek_last_error();
    const bool end_of_file =
        ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
    if (count == 0 || (last != 0 && !end_of_file)) {
        throw config::KeyError(
            "tls_ca", "'" + settings.ca + "' holds " +
                          (count == 0 ? std::string("no PEM certificate")
                                      : "a broken certificate after " + std::to_string(count)) +
                          ": " + openssl_reason());
    }
    ::ERR_clear_error();
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

#include "config/tls_files.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <array>
#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <cstring>
#include <memory>
#include <new>

#include "config/config.hpp"

namespace netd::config {

namespace {

/// The largest PEM file read: a certificate or key is a few KiB, a CA bundle a few hundred.
constexpr std::size_t max_pem_size = std::size_t{16} * 1024 * 1024;

std::string quoted(std::string_view path) {
    return "'" + std::string(path) + "'";
}

/// The contents of file; throws KeyError when it cannot be read.
std::string read_pem_file(const PemFile& file) {
    const auto fail = [&](const std::string& why) {
        return KeyError(file.key, "cannot read " + quoted(file.path) + ": " + why);
    };
    const std::string path(file.path);
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

/// The passphrase callback of every PEM read here. Without one OpenSSL would ask for an
/// encrypted key's passphrase on the terminal and wait there; with this one the read fails.
int no_passphrase(char* /*buffer*/, int /*size*/, int /*writing*/, void* /*data*/) {
    return -1;
}

using Bio = std::unique_ptr<BIO, decltype(&::BIO_free)>;
using Certificate = std::unique_ptr<X509, decltype(&::X509_free)>;
using PrivateKey = std::unique_ptr<EVP_PKEY, decltype(&::EVP_PKEY_free)>;

/// A BIO reading text, which must outlive it.
Bio memory_bio(const std::string& text) {
    Bio bio(::BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), &::BIO_free);
    if (!bio) {
        throw std::bad_alloc();
    }
    return bio;
}

/// Hands every certificate of file to use, in order, counted from 1; use returns false when
/// OpenSSL refused it. Throws KeyError naming file's key when the file holds no certificate, a
/// broken one, or one that was refused.
template <class Use>
void for_each_certificate(const PemFile& file, Use use) {
    const std::string text = read_pem_file(file);
    const Bio in = memory_bio(text);
    ::ERR_clear_error();
    int count = 0;
    for (;;) {
        // _AUX: a TRUSTED CERTIFICATE (one with OpenSSL's trust settings) is read as well.
        const Certificate certificate(
            ::PEM_read_bio_X509_AUX(in.get(), nullptr, no_passphrase, nullptr), &::X509_free);
        if (!certificate) {
            break;
        }
        ++count;
        if (!use(certificate.get(), count)) {
            throw KeyError(file.key, quoted(file.path) + ": certificate " + std::to_string(count) +
                                         " cannot be used: " + openssl_reason());
        }
    }
    // The loop ends at the first thing that is no certificate: the end of the file (no start
    // line), or a broken one.
    const unsigned long last = ::ERR_peek_last_error();
    const bool end_of_file =
        ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
    if (count == 0 || (last != 0 && !end_of_file)) {
        throw KeyError(file.key,
                       quoted(file.path) + " holds " +
                           (count == 0 ? std::string("no PEM certificate")
                                       : "a broken certificate after " + std::to_string(count)) +
                           ": " + openssl_reason());
    }
    ::ERR_clear_error();
}

}  // namespace

void use_certificate_and_key(SSL_CTX* ctx, const PemFile& cert, const PemFile& key) {
    // The first certificate is the context's own, the rest its chain.
    ::SSL_CTX_clear_chain_certs(ctx);
    for_each_certificate(cert, [&](X509* certificate, int position) {
        return (position == 1 ? ::SSL_CTX_use_certificate(ctx, certificate)
                              : ::SSL_CTX_add1_chain_cert(ctx, certificate)) == 1;
    });
    const std::string text = read_pem_file(key);
    const Bio in = memory_bio(text);
    ::ERR_clear_error();
    const PrivateKey private_key(
        ::PEM_read_bio_PrivateKey(in.get(), nullptr, no_passphrase, nullptr), &::EVP_PKEY_free);
    if (!private_key) {
        throw KeyError(key.key, quoted(key.path) +
                                    " holds no unencrypted PEM private key: " + openssl_reason());
    }
    // SSL_CTX_use_PrivateKey compares the key with the certificate; it fails for another
    // reason only when OpenSSL cannot use the key at all.
    const bool used = ::SSL_CTX_use_PrivateKey(ctx, private_key.get()) == 1;
    const unsigned long code = ::ERR_peek_error();
    const bool mismatch =
        ERR_GET_LIB(code) == ERR_LIB_X509 && (ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH ||
                                              ERR_GET_REASON(code) == X509_R_KEY_TYPE_MISMATCH);
    if (!used && !mismatch) {
        throw KeyError(key.key, quoted(key.path) + " holds a private key that cannot be used: " +
                                    openssl_reason());
    }
    if (!used || ::SSL_CTX_check_private_key(ctx) != 1) {
        ::ERR_clear_error();
        throw KeyError(key.key, quoted(key.path) +
                                    " is not the private key of the certificate in " +
                                    quoted(cert.path));
    }
    // OpenSSL's decoders may leave errors of the forms they tried; none must be taken later
    // for the reason of another failure on this thread (the forwarder's sender reads files too).
    ::ERR_clear_error();
}

void trust_certificates(SSL_CTX* ctx, const PemFile& ca, NameToClients names) {
    X509_STORE* store = ::SSL_CTX_get_cert_store(ctx);
    for_each_certificate(ca, [&](X509* authority, int /*position*/) {
        return ::X509_STORE_add_cert(store, authority) == 1 &&
               (names == NameToClients::no || ::SSL_CTX_add_client_CA(ctx, authority) == 1);
    });
}

std::string openssl_reason() {
    const unsigned long code = ::ERR_get_error();
    ::ERR_clear_error();
    if (code == 0) {
        return "no reason given";
    }
    return boost::system::error_code(static_cast<int>(code), boost::asio::error::get_ssl_category())
        .message();
}

}  // namespace netd::config

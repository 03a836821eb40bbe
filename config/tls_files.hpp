#pragma once
// The PEM files a TLS context is made from, read at start and on every SIGHUP: a certificate
// chain and its private key, and a file of CA certificates. One reader for both of netd's TLS
// sides: a service's (net/tls_context: tls_cert, tls_key, tls_ca, SPEC 9) and the logger's
// forwarding (handlers/logger/forward_transport: forward_cert, forward_key, forward_ca, SPEC 10).
//
// Every file is read here, at most 16 MiB of it, and handed to OpenSSL from memory; a file that
// cannot be used is a config::KeyError naming the key and saying what is wrong with the file.
// No passphrase is ever asked for: an encrypted key is an error, never a prompt on a terminal.

#include <openssl/ssl.h>

#include <string>
#include <string_view>

namespace netd::config {

/// A PEM file and the key that names it (reported in errors).
struct PemFile {
    std::string_view key;
    std::string_view path;
};

/// Makes the certificate chain of cert (the certificate first, then the ones that sign it) and
/// the private key of key ctx's own; throws KeyError naming the key whose file cannot be used,
/// key's when it is not the private key of cert's certificate.
void use_certificate_and_key(SSL_CTX* ctx, const PemFile& cert, const PemFile& key);

/// Whether a server's CAs are also named to its clients in the handshake (which tells a client
/// which of its certificates to present).
enum class NameToClients : bool { no, yes };

/// Adds every certificate of ca to ctx's trust store (and, with NameToClients::yes, to the CA
/// names it sends clients); throws KeyError naming ca's key when the file holds none, a broken
/// one, or one OpenSSL refuses.
void trust_certificates(SSL_CTX* ctx, const PemFile& ca, NameToClients names);

/// OpenSSL's reason for the error at the head of this thread's queue, which is then emptied
/// ("no reason given" when it is empty).
std::string openssl_reason();

}  // namespace netd::config

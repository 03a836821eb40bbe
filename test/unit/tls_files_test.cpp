// config/tls_files: the PEM files of a TLS context, with certificates and keys made here (EC
// P-256, self-signed) and written to a temporary directory.
#include "config/tls_files.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "test/unit/temp_files.hpp"

using namespace netd;
using namespace netd::test;

namespace {

using Context = std::unique_ptr<SSL_CTX, decltype(&::SSL_CTX_free)>;
using Key = std::unique_ptr<EVP_PKEY, decltype(&::EVP_PKEY_free)>;
using Certificate = std::unique_ptr<X509, decltype(&::X509_free)>;
using Bio = std::unique_ptr<BIO, decltype(&::BIO_free)>;

Context client_context() {
    return {::SSL_CTX_new(::TLS_client_method()), &::SSL_CTX_free};
}

Key new_key() {
    return {::EVP_EC_gen("P-256"), &::EVP_PKEY_free};
}

/// A self-signed certificate of key, valid for a day, with common name cn.
Certificate self_signed(EVP_PKEY* key, const std::string& cn) {
    Certificate certificate(::X509_new(), &::X509_free);
    ::X509_set_version(certificate.get(), X509_VERSION_3);
    ::ASN1_INTEGER_set(::X509_get_serialNumber(certificate.get()), 1);
    ::X509_gmtime_adj(::X509_getm_notBefore(certificate.get()), 0);
    ::X509_gmtime_adj(::X509_getm_notAfter(certificate.get()), 86400);
    X509_NAME* name = ::X509_get_subject_name(certificate.get());
    ::X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    ::X509_set_issuer_name(certificate.get(), name);
    ::X509_set_pubkey(certificate.get(), key);
    BOOST_TEST_REQUIRE(::X509_sign(certificate.get(), key, ::EVP_sha256()) > 0);
    return certificate;
}

/// What a PEM writer writes into memory.
template <class Write>
std::string pem(Write write) {
    const Bio out(::BIO_new(::BIO_s_mem()), &::BIO_free);
    BOOST_TEST_REQUIRE(write(out.get()) == 1);
    char* data = nullptr;
    const long size = ::BIO_get_mem_data(out.get(), &data);
    return {data, static_cast<std::size_t>(size)};
}

std::string pem_of(X509* certificate) {
    return pem([&](BIO* out) { return ::PEM_write_bio_X509(out, certificate); });
}

std::string pem_of(EVP_PKEY* key) {
    return pem([&](BIO* out) {
        return ::PEM_write_bio_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr);
    });
}

/// Two keys and their certificates, as files in a temporary directory.
struct Files {
    Files() {
        for (int i = 0; i < 2; ++i) {
            keys.push_back(new_key());
            certificates.push_back(
                self_signed(keys.back().get(), "netd unit " + std::to_string(i)));
            write("key" + std::to_string(i) + ".pem", pem_of(keys.back().get()));
            write("cert" + std::to_string(i) + ".pem", pem_of(certificates.back().get()));
        }
    }

    std::string write(const std::string& name, const std::string& text) const {
        std::string file = path(name);
        std::ofstream(file, std::ios::binary) << text;
        return file;
    }

    std::string path(const std::string& name) const { return (dir.path / name).string(); }

    TempDir dir;
    std::vector<Key> keys;
    std::vector<Certificate> certificates;
};

/// The KeyError f throws: "KEY: what".
template <class F>
std::string key_error(F f) {
    try {
        f();
    } catch (const config::KeyError& e) {
        return e.key() + ": " + e.what();
    }
    return "no KeyError";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tls_files)

BOOST_AUTO_TEST_CASE(a_certificate_and_its_key_are_the_contexts_own) {
    const Files files;
    const Context ctx = client_context();
    config::use_certificate_and_key(ctx.get(), {"forward_cert", files.path("cert0.pem")},
                                    {"forward_key", files.path("key0.pem")});
    BOOST_TEST(::X509_cmp(::SSL_CTX_get0_certificate(ctx.get()), files.certificates[0].get()) == 0);
    BOOST_TEST(::SSL_CTX_check_private_key(ctx.get()) == 1);
    BOOST_TEST(::ERR_peek_error() == 0U);
}

BOOST_AUTO_TEST_CASE(the_certificates_after_the_first_are_its_chain) {
    const Files files;
    const Context ctx = client_context();
    const std::string chain = files.write("chain.pem", pem_of(files.certificates[0].get()) +
                                                           pem_of(files.certificates[1].get()) +
                                                           pem_of(files.certificates[1].get()));
    config::use_certificate_and_key(ctx.get(), {"tls_cert", chain},
                                    {"tls_key", files.path("key0.pem")});
    STACK_OF(X509)* extra = nullptr;
    BOOST_TEST_REQUIRE(::SSL_CTX_get0_chain_certs(ctx.get(), &extra) == 1);
    BOOST_TEST(::sk_X509_num(extra) == 2);
}

BOOST_AUTO_TEST_CASE(each_file_that_cannot_be_used_is_named_with_its_key) {
    const Files files;
    const Context ctx = client_context();
    const std::string cert = files.path("cert0.pem");
    const std::string key = files.path("key0.pem");
    const auto use = [&](const std::string& c, const std::string& k) {
        return key_error([&] {
            config::use_certificate_and_key(ctx.get(), {"forward_cert", c}, {"forward_key", k});
        });
    };
    BOOST_TEST(use(files.path("none.pem"), key) == "forward_cert: cannot read '" +
                                                       files.path("none.pem") +
                                                       "': No such file or directory");
    BOOST_TEST(use(key, key).starts_with("forward_cert: '" + key +
                                         "' holds no PEM certificate: no start line"));
    BOOST_TEST(
        use(cert, cert)
            .starts_with("forward_key: '" + cert + "' holds no unencrypted PEM private key: "));
    BOOST_TEST(use(cert, files.path("key1.pem")) ==
               "forward_key: '" + files.path("key1.pem") +
                   "' is not the private key of the certificate in '" + cert + "'");
    // An encrypted key is an error (that no terminal is asked for the passphrase is tested
    // with one, in test/integration/test_forward.py).
    const std::string encrypted =
        files.write("encrypted.pem", pem([&](BIO* out) {
                        static constexpr std::string_view passphrase = "secret";
                        return ::PEM_write_bio_PrivateKey(
                            out, files.keys[0].get(), ::EVP_aes_256_cbc(),
                            reinterpret_cast<const unsigned char*>(passphrase.data()),
                            static_cast<int>(passphrase.size()), nullptr, nullptr);
                    }));
    BOOST_TEST(use(cert, encrypted)
                   .starts_with("forward_key: '" + encrypted +
                                "' holds no unencrypted PEM private key: "));
    BOOST_TEST(::ERR_peek_error() == 0U);
}

BOOST_AUTO_TEST_CASE(every_certificate_of_a_ca_file_is_trusted) {
    const Files files;
    const std::string both = files.write(
        "cas.pem", pem_of(files.certificates[0].get()) + pem_of(files.certificates[1].get()));
    const Context client = client_context();
    config::trust_certificates(client.get(), {"forward_ca", both}, config::NameToClients::no);
    BOOST_TEST(::sk_X509_OBJECT_num(
                   ::X509_STORE_get0_objects(::SSL_CTX_get_cert_store(client.get()))) == 2);
    BOOST_TEST(::sk_X509_NAME_num(::SSL_CTX_get_client_CA_list(client.get())) == 0);

    const Context server{::SSL_CTX_new(::TLS_server_method()), &::SSL_CTX_free};
    config::trust_certificates(server.get(), {"tls_ca", both}, config::NameToClients::yes);
    BOOST_TEST(::sk_X509_NAME_num(::SSL_CTX_get_client_CA_list(server.get())) == 2);
}

BOOST_AUTO_TEST_CASE(a_ca_file_with_a_broken_certificate_none_or_too_much) {
    const Files files;
    const Context ctx = client_context();
    const auto trust = [&](const std::string& file) {
        return key_error([&] {
            config::trust_certificates(ctx.get(), {"forward_ca", file}, config::NameToClients::no);
        });
    };
    std::string broken = pem_of(files.certificates[1].get());
    broken[broken.find('\n') + 1] = '!';
    const std::string after_one =
        files.write("broken.pem", pem_of(files.certificates[0].get()) + broken);
    BOOST_TEST(trust(after_one).starts_with("forward_ca: '" + after_one +
                                            "' holds a broken certificate after 1: "));
    const std::string key = files.path("key0.pem");
    BOOST_TEST(trust(key).starts_with("forward_ca: '" + key +
                                      "' holds no PEM certificate: no start line"));
    // Bounded: a file larger than any PEM file of certificates is not read whole.
    const std::string huge =
        files.write("huge.pem", std::string(std::size_t{16} << 20, '\n') + "x");
    BOOST_TEST(trust(huge) == "forward_ca: cannot read '" + huge +
                                  "': larger than 16 MiB, which no PEM file of certificates or "
                                  "keys is");
    BOOST_TEST(trust(files.dir.path.string()) ==
               "forward_ca: cannot read '" + files.dir.path.string() + "': Is a directory");
}

BOOST_AUTO_TEST_CASE(openssl_reason_empties_the_queue) {
    ::ERR_clear_error();
    BOOST_TEST(config::openssl_reason() == "no reason given");
    ERR_raise(ERR_LIB_PEM, PEM_R_NO_START_LINE);
    ERR_raise(ERR_LIB_X509, X509_R_KEY_VALUES_MISMATCH);
    BOOST_TEST(config::openssl_reason() == "no start line (PEM routines)");
    BOOST_TEST(::ERR_peek_error() == 0U);
}

BOOST_AUTO_TEST_SUITE_END()

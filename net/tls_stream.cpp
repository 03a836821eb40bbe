#include "net/tls_stream.hpp"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <boost/asio/ssl/error.hpp>
#include <cerrno>

namespace netd {

namespace {

boost::system::error_code ssl_error(unsigned long code) {
    return {static_cast<int>(code), boost::asio::error::get_ssl_category()};
}

}  // namespace

TlsStream::TlsStream(socket_type socket, std::shared_ptr<const TlsContext> context)
    : socket_(std::move(socket)),
      context_(std::move(context)),
      ssl_(::SSL_new(context_->native())) {
    // The socket BIO does not close the descriptor: the socket does.
    if (!ssl_ || ::SSL_set_fd(ssl_.get(), socket_.native_handle()) != 1) {
        ::ERR_clear_error();
        broken_ = true;
        return;
    }
    ::SSL_set_accept_state(ssl_.get());
}

bool TlsStream::handshake_step(boost::system::error_code& ec) {
    if (broken_) {
        ec = boost::asio::error::no_memory;  // no SSL object to be had
        return true;
    }
    ::ERR_clear_error();
    const int result = ::SSL_do_handshake(ssl_.get());
    if (result == 1) {
        ec = {};
        return true;
    }
    ec = io_error(result, handshake_wants_);
    return ec != boost::asio::error::would_block;
}

std::string TlsStream::failure(const boost::system::error_code& ec) const {
    if (ec == boost::asio::error::eof) {
        return "the client closed the connection";
    }
    if (ec.category() != boost::asio::error::get_ssl_category()) {
        return ec.message();
    }
    std::string why = ec.message();
    const auto code = static_cast<unsigned long>(ec.value());
    if (ssl_ && ERR_GET_LIB(code) == ERR_LIB_SSL &&
        ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        why += ": ";
        why += ::X509_verify_cert_error_string(::SSL_get_verify_result(ssl_.get()));
    }
    return why;
}

std::size_t TlsStream::read_some(boost::asio::mutable_buffer buffer,
                                 boost::system::error_code& ec) {
    ec = {};
    if (read_error_) {
        ec = read_error_;
        return 0;
    }
    if (broken_) {
        ec = boost::asio::error::broken_pipe;
        return 0;
    }
    auto* data = static_cast<char*>(buffer.data());
    std::size_t total = 0;
    // Record by record (OpenSSL hands out one at a time) until the buffer is full or OpenSSL
    // needs the socket: a short read means the stream is dry, as for a plain socket.
    while (total < buffer.size()) {
        ::ERR_clear_error();
        std::size_t n = 0;
        const int result = ::SSL_read_ex(ssl_.get(), data + total, buffer.size() - total, &n);
        if (result == 1) {
            total += n;
            continue;
        }
        const auto error = io_error(result, read_wants_);
        if (total == 0) {
            ec = error;
        } else if (error != boost::asio::error::would_block) {
            read_error_ = error;
        }
        break;
    }
    return total;
}

std::size_t TlsStream::write_some(boost::asio::const_buffer buffer, boost::system::error_code& ec) {
    ec = {};
    if (broken_) {
        ec = boost::asio::error::broken_pipe;
        return 0;
    }
    if (buffer.size() == 0) {
        return 0;
    }
    ::ERR_clear_error();
    std::size_t n = 0;
    if (::SSL_write_ex(ssl_.get(), buffer.data(), buffer.size(), &n) == 1) {
        return n;
    }
    ec = io_error(0, write_wants_);
    return 0;
}

boost::system::error_code TlsStream::io_error(int result, Want& want) {
    const int error = ::SSL_get_error(ssl_.get(), result);
    const int system_error = errno;
    switch (error) {
        case SSL_ERROR_WANT_READ:
            want = Want::read;
            return boost::asio::error::would_block;
        case SSL_ERROR_WANT_WRITE:
            want = Want::write;
            return boost::asio::error::would_block;
        case SSL_ERROR_ZERO_RETURN:
            return boost::asio::error::eof;  // close_notify, or the TCP end (see TlsContext)
        case SSL_ERROR_SYSCALL:
            broken_ = true;
            if (const unsigned long code = ::ERR_get_error(); code != 0) {
                ::ERR_clear_error();
                return ssl_error(code);
            }
            if (system_error != 0) {
                return {system_error, boost::system::system_category()};
            }
            return boost::asio::error::eof;
        default: {
            broken_ = true;
            const unsigned long code = ::ERR_get_error();
            ::ERR_clear_error();
            return code != 0 ? ssl_error(code) : boost::asio::error::broken_pipe;
        }
    }
}

void TlsStream::shutdown_send(boost::system::error_code& ec) {
    ec = {};
    if (!broken_ && ::SSL_is_init_finished(ssl_.get()) == 1) {
        ::ERR_clear_error();
        if (const int result = ::SSL_shutdown(ssl_.get()); result < 0) {
            Want ignored = Want::write;
            ec = io_error(result, ignored);
            if (ec) {
                // Even a close_notify that would block: the socket is full and the client
                // reads nothing, and the caller closes rather than wait.
                return;
            }
        }
    }
    socket_.shutdown(socket_type::shutdown_send, ec);
}

void TlsStream::close() {
    if (!broken_ && ssl_ && ::SSL_is_init_finished(ssl_.get()) == 1 &&
        (::SSL_get_shutdown(ssl_.get()) & SSL_SENT_SHUTDOWN) == 0) {
        ::ERR_clear_error();
        if (::SSL_shutdown(ssl_.get()) < 0) {
            ::ERR_clear_error();
        }
    }
    boost::system::error_code ignored;
    socket_.shutdown(socket_type::shutdown_both, ignored);
    socket_.close(ignored);
}

}  // namespace netd

"""Certificates for the TLS tests, made with the openssl command line into a temporary directory.

``certificates()`` makes them once per test process (EC P-256 keys: quick to make) and removes
them at exit. Every file is PEM:

* ``ca.pem``: the test CA (``netd test CA``), which signs all but ``stranger``;
* ``server.pem`` / ``server.key``: CN ``localhost``, SAN ``DNS:localhost, IP:127.0.0.1,
  IP:::1``, for TLS servers; ``server2.pem`` / ``server2.key``: another one like it (CN ``netd
  test server 2``), for reloads that change the certificate;
* ``client.pem`` / ``client.key``: a client certificate (CN ``netd test client``);
* ``expired.pem`` / ``expired.key``: a client certificate valid only on 2020-01-01;
* ``stranger.pem`` / ``stranger.key``: a client certificate signed by another CA
  (``other-ca.pem``);
* ``rsa-server.pem`` / ``rsa-server.key``: an RSA 2048 server certificate (peers that want one);
* ``encrypted.key``: ``server.key`` encrypted with a passphrase (which netd cannot be given).
"""

import atexit
import os
import shutil
import subprocess
import tempfile

_made = None

_CA_CONFIG = """\
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/issued
serial = $dir/serial
default_md = sha256
policy = any_name
email_in_dn = no
copy_extensions = none
unique_subject = no
[ any_name ]
commonName = supplied
[ ca_cert ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server_cert ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
[ client_cert ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
"""


class Certificates:
    def __init__(self, directory):
        self.dir = directory

    def path(self, name):
        return os.path.join(self.dir, name)

    def text(self, name):
        with open(self.path(name)) as f:
            return f.read()


def _run(*args, cwd):
    result = subprocess.run(["openssl", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, timeout=30)
    if result.returncode != 0:
        raise AssertionError("openssl %s failed:\n%s" % (" ".join(args),
                                                          result.stdout.decode(errors="replace")))


def _key(name, cwd, rsa=False):
    if rsa:
        _run("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out",
             name + ".key", cwd=cwd)
    else:
        _run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
             name + ".key", cwd=cwd)


def _make_ca(ca_dir, name, cn, cwd):
    os.makedirs(os.path.join(ca_dir, "issued"))
    with open(os.path.join(ca_dir, "index.txt"), "w"):
        pass
    with open(os.path.join(ca_dir, "serial"), "w") as f:
        f.write("1000\n")
    with open(os.path.join(ca_dir, "ca.cnf"), "w") as f:
        f.write(_CA_CONFIG.format(dir=ca_dir))
    _key(name, cwd)
    _run("req", "-new", "-x509", "-key", name + ".key", "-out", name + ".pem", "-days", "3650",
         "-subj", "/CN=" + cn, "-config", os.path.join(ca_dir, "ca.cnf"), "-extensions",
         "ca_cert", cwd=cwd)


def _issue(ca_dir, ca, name, cn, extensions, cwd, dates=None, rsa=False):
    _key(name, cwd, rsa)
    _run("req", "-new", "-key", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn,
         cwd=cwd)
    validity = ["-startdate", dates[0], "-enddate", dates[1]] if dates else ["-days", "3650"]
    _run("ca", "-batch", "-notext", "-config", os.path.join(ca_dir, "ca.cnf"), "-cert",
         ca + ".pem", "-keyfile", ca + ".key", "-extensions", extensions, "-in", name + ".csr",
         "-out", name + ".pem", *validity, cwd=cwd)


def service_keys(cert="server", ca=None, **more):
    """A netd service's TLS keys for the test certificates: tls_cert and tls_key of cert, tls_ca
    of ca if given, and any other key = value."""
    certs = certificates()
    text = "tls_cert = %s\ntls_key = %s\n" % (certs.path(cert + ".pem"), certs.path(cert + ".key"))
    if ca:
        text += "tls_ca = %s\n" % certs.path(ca + ".pem")
    for key, value in more.items():
        text += "%s = %s\n" % (key, value)
    return text


def certificates():
    """The test certificates (made on first use, removed when the process exits)."""
    global _made
    if _made is not None:
        return _made
    directory = tempfile.mkdtemp(prefix="netd-certs-")
    atexit.register(shutil.rmtree, directory, True)
    ca_dir = os.path.join(directory, "ca-db")
    other_dir = os.path.join(directory, "other-ca-db")
    _make_ca(ca_dir, "ca", "netd test CA", directory)
    _make_ca(other_dir, "other-ca", "another test CA", directory)
    _issue(ca_dir, "ca", "server", "localhost", "server_cert", directory)
    _issue(ca_dir, "ca", "server2", "netd test server 2", "server_cert", directory)
    _issue(ca_dir, "ca", "rsa-server", "localhost", "server_cert", directory, rsa=True)
    _issue(ca_dir, "ca", "client", "netd test client", "client_cert", directory)
    _issue(ca_dir, "ca", "expired", "netd expired client", "client_cert", directory,
           dates=("20200101000000Z", "20200102000000Z"))
    _issue(other_dir, "other-ca", "stranger", "netd stranger", "client_cert", directory)
    _run("pkey", "-in", "server.key", "-aes256", "-passout", "pass:secret", "-out",
         "encrypted.key", cwd=directory)
    _made = Certificates(directory)
    return _made

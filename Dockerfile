# netd in a container: the Debian package, built with the same script the README uses
# (scripts/package), installed into a slim Debian and run as the package's non-root user netd.
#   docker build -t netd .          (or: buildah bud --format docker -t netd .)
#   docker run --rm -p 7007:7007 -p 7007:7007/udp -p 7514:7514 -v netd-logs:/var/log/netd netd
#   docker run ... -v "$PWD/my.ini:/etc/netd/netd.ini:ro" netd    # your own configuration
# scripts/test's container stage builds and runs this file with buildah (docs/operations.md).

FROM debian:bookworm AS build
WORKDIR /src
COPY . .
RUN ./scripts/package

FROM debian:bookworm-slim
COPY --from=build /src/dist/ /tmp/dist/
# apt resolves the package's own dependencies: the shared libraries the binary links, from Debian.
# Its postinst makes the system user netd.
RUN apt-get update \
    && apt-get install -y --no-install-recommends /tmp/dist/netd_*.deb \
    && rm -rf /var/lib/apt/lists/* /tmp/dist \
    && install -d -o netd -g netd /var/log/netd /run/netd
COPY config/netd.container.ini /etc/netd/netd.ini
USER netd
EXPOSE 7007/tcp 7007/udp 7013/tcp 7013/udp 7014/tcp 7014/udp 7037/tcp 7037/udp 7514/tcp 7514/udp 7090/tcp
VOLUME ["/var/log/netd"]
# Healthy when the stats service answers GET /healthz with 200: every event loop of netd answered
# within a second (bash's /dev/tcp: no HTTP client to install).
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/7090 && printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && timeout 2 head -n 1 <&3 | grep -q '^HTTP/1\\.[01] 200 '"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/netd"]
CMD ["--config", "/etc/netd/netd.ini"]

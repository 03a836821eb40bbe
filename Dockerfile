# netd in a container, built with the same scripts the README uses and run as a non-root user.
#   docker build -t netd .
#   docker run --rm -p 7007:7007 -p 7007:7007/udp -p 7514:7514 -v netd-logs:/var/log/netd netd
#   docker run ... -v "$PWD/my.ini:/etc/netd/netd.ini:ro" netd    # your own configuration

FROM debian:bookworm AS build
WORKDIR /src
COPY . .
RUN ./scripts/setup && NETD_BUILD_DIR=/src/build ./scripts/build -DBUILD_TESTING=OFF

FROM debian:bookworm-slim
# Only the shared libraries the binary links (ldd build/netd).
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       libboost-program-options1.81.0 libboost-log1.81.0 libboost-json1.81.0 \
       libboost-thread1.81.0 libboost-filesystem1.81.0 libsystemd0 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin netd \
    && install -d -o netd -g netd /var/log/netd /run/netd
COPY --from=build /src/build/netd /usr/bin/netd
COPY config/netd.container.ini /etc/netd/netd.ini
USER netd
EXPOSE 7007/tcp 7007/udp 7013/tcp 7013/udp 7014/tcp 7014/udp 7037/tcp 7037/udp 7514/tcp 7514/udp 7090/tcp
VOLUME ["/var/log/netd"]
# Healthy when the daytime service answers (bash's /dev/tcp: no client to install).
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/7014 && timeout 2 head -c 1 <&3 | grep -q ."]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/netd"]
CMD ["--config", "/etc/netd/netd.ini"]

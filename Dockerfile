# Switchboard's container image: a static-stdlib release build of `switchboard` on
# debian:bookworm-slim, running as a non-root user. docs/DEPLOYMENT.md walks through it.
#
#   docker build -t switchboard .            (or: podman build --format docker -t switchboard .)
#   docker run --rm -p 8000:8000 -e SWITCHBOARD_API_KEY=... switchboard
#
# Every `switchboard serve` flag works as an argument (`docker run switchboard serve --help`) or as its
# SWITCHBOARD_* variable. scripts/test.sh builds this file with podman, giving the `build` stage a
# directory holding the binary it built (`--build-context build=DIR`, DIR/out/switchboard).

# ---- build: the release binary, with the Swift runtime linked in -------------------------------
FROM swift:6.3-bookworm AS build
WORKDIR /src
COPY . .
# --static-swift-stdlib links the Swift standard library, Foundation and Dispatch in: the binary then
# needs only libc, libm, libstdc++, libgcc_s and zlib, which every glibc Linux has. The web pages are
# compiled in (Sources/SwitchboardServer/Generated), so the binary is all there is to copy.
# permessage-deflate (compress-nio) links the system's zlib: the swift image has its headers; the
# check keeps a leaner base image working.
RUN [ -f /usr/include/zlib.h ] || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends zlib1g-dev)
RUN swift build -c release --static-swift-stdlib --product switchboard \
    && mkdir -p /out \
    && cp "$(swift build -c release --static-swift-stdlib --show-bin-path)/switchboard" /out/switchboard \
    && strip /out/switchboard

# ---- runtime --------------------------------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates: TLS to PostgreSQL (sslmode=require) and to https proxy endpoints verifies against
# the system's roots. A system user with a fixed uid (10001) owns nothing in the image.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
    && groupadd --system --gid 10001 switchboard \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin switchboard
COPY --from=build /out/switchboard /usr/local/bin/switchboard
COPY deploy/healthcheck.sh /usr/local/bin/switchboard-healthcheck
USER 10001:10001
# Listen on every address of the container; the port is the one EXPOSEd. Override either with
# -e SWITCHBOARD_PORT=... or flags after `serve`.
ENV SWITCHBOARD_HOST=0.0.0.0 \
    SWITCHBOARD_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/switchboard-healthcheck"]
# SIGTERM drains: clients get a close frame (1001 going away; protocol clients 3001 shutdown, and
# reconnect elsewhere), each waits up to --close-timeout (default 5 s) for its answer, then the process
# exits 0. Give `docker stop -t` / compose's stop_grace_period more than that.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/switchboard"]
CMD ["serve"]

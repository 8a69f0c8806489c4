# `sdistill serve` as a container image.
#
# NOTE: written with care but NOT built on the machine it was written on (Docker cannot
# run there). Build and smoke-test it before relying on it:
#   docker build -t sdistill .
#   docker volume create sdistill-cache
#   docker run --rm -p 127.0.0.1:8658:8658 -v sdistill-cache:/var/cache/sdistill sdistill
#   curl -s http://127.0.0.1:8658/health
#
# Two stages: the crate is built from this checkout (Cargo.lock pinned), and the runtime
# image holds the binary, the CA store (upstreams over TLS) and the guest runtime,
# installed and verified at build time into a read-only directory.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
 && install -m 0755 target/release/sdistill /usr/local/bin/sdistill

# The pinned guest runtime (python-wasm/runtime.lock, sha256-checked): downloaded once,
# here, so a server starts without the network step. Its compiled module and snapshot
# are rebuilt into the cache volume on first start (native code is only ever loaded from
# the user's own cache).
# `runtime install` puts it in <cache>/runtime/<lock key>/ (one directory on a fresh
# cache); the image keeps it at a fixed path, readable by all, writable by root only.
RUN SDISTILL_CACHE_DIR=/opt/sdistill-build-cache sdistill runtime install \
 && mkdir -p /opt/sdistill/runtime \
 && cp -a /opt/sdistill-build-cache/runtime/*/. /opt/sdistill/runtime/ \
 && chmod -R u=rwX,go=rX /opt/sdistill/runtime \
 && test -f /opt/sdistill/runtime/python-3.12.0.wasm \
 && SDISTILL_CACHE_DIR=/tmp/check-cache SDISTILL_RUNTIME=/opt/sdistill/runtime sdistill runtime info

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 sdistill \
 && useradd --system --uid 10001 --gid sdistill --home-dir /nonexistent --shell /usr/sbin/nologin sdistill \
 # The cache must belong to the user sdistill runs as, mode 0700 (it refuses anything
 # else). A new named volume takes this directory's owner and mode.
 && mkdir -p /var/cache/sdistill /var/tmp/sdistill \
 && chown sdistill:sdistill /var/cache/sdistill /var/tmp/sdistill \
 && chmod 0700 /var/cache/sdistill /var/tmp/sdistill
COPY --from=build /usr/local/bin/sdistill /usr/local/bin/sdistill
# Read-only, root-owned: the runtime is trusted only if nobody else can write it.
COPY --from=build /opt/sdistill/runtime /opt/sdistill/runtime

USER sdistill
ENV SDISTILL_CACHE_DIR=/var/cache/sdistill \
    SDISTILL_RUNTIME=/opt/sdistill/runtime \
    # Unpacked sdists and guest scratch dirs; a container's /dev/shm is usually 64 MiB.
    SDISTILL_WORK_DIR=/var/tmp/sdistill
VOLUME ["/var/cache/sdistill"]
EXPOSE 8658
# Inside a container the server must listen on all interfaces to be reachable; publish
# the port on loopback (-p 127.0.0.1:8658:8658) or behind a proxy that authenticates.
# SIGTERM (docker stop) drains requests in progress for up to --shutdown-grace seconds:
# give `docker stop -t` a little more.
ENTRYPOINT ["sdistill", "serve", "--listen", "0.0.0.0:8658"]
CMD ["--upstream", "https://pypi.org/simple/"]

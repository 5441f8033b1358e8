# rowflow in a container. NOT TESTED in this project's CI: the build machine has no
# Docker daemon and no access to a container registry. Build it where you have both:
#
#   docker build -t rowflow .
#   docker run --rm -v "$PWD:/data" -w /data rowflow load users.csv --into sqlite://users.db
#
# Build stage: the release binary (SQLite is compiled in; TLS is rustls, so the
# runtime image needs no OpenSSL).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin rowflow

# Runtime stage: a small Debian with CA certificates (for TLS to databases, HTTP APIs
# and object storage) and the time zone database is built into the binary.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/rowflow /usr/local/bin/rowflow
ENTRYPOINT ["rowflow"]
CMD ["--help"]

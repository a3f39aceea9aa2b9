# syntax=docker/dockerfile:1
# Multi-stage build: a cached dependency layer, then the application, then a small runtime image
# that runs as a non-root user. Migrations and the default configuration are embedded in the binary.

FROM rust:1.95-bookworm AS build
# A failing command on the left of a pipe fails the step.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
# Dependency layer: build the dependency graph with placeholder sources, so editing src/ does not
# rebuild every crate.
COPY Cargo.toml Cargo.lock ./
# Every [[bin]] path in Cargo.toml gets a placeholder so the manifest resolves.
RUN mkdir -p src bench emulator \
 && sed -n 's/^path = "\(.*\.rs\)"/\1/p' Cargo.toml | while read -r b; do mkdir -p "$(dirname "$b")"; echo 'fn main() {}' > "$b"; done \
 && echo '' > src/lib.rs \
 && cargo build --release --locked --bin switchboard
COPY . .
# Touch the sources so cargo sees them as newer than the placeholder build.
RUN find . -name '*.rs' -not -path './target/*' -exec touch {} + && cargo build --release --locked --bin switchboard

FROM debian:bookworm-slim AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 switchboard \
 && useradd --system --uid 10001 --gid 10001 --no-create-home switchboard
COPY --from=build /src/target/release/switchboard /usr/local/bin/switchboard
# Numeric, so a runtime can verify that the user is not root (Kubernetes' runAsNonRoot).
USER 10001:10001
ENV SWITCHBOARD_LISTEN_ADDR=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["switchboard", "healthcheck"]
ENTRYPOINT ["switchboard"]
CMD ["serve"]

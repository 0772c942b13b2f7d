# syntax=docker/dockerfile:1
# trackgate container image. Build: docker build -t trackgate:dev .
# Runs as a non-root user with a read-only root filesystem in mind: state goes to /var/lib/trackgate.

# Base images by exact tag and digest (the multi-arch index each tag pointed at, as pinned by other public projects;
# no Docker engine here to pull it: check with `docker buildx imagetools inspect node:24.21.0-bookworm-slim`).
# Bump tag and digest together. Both stages use the one slim image: nothing is compiled (SQLite is node:sqlite,
# argon2 ships prebuilt), and the modules installed are those of the Node that runs them.
FROM node:24.21.0-bookworm-slim@sha256:0e0ff40c39bc087845bfb27465a0df4ea419520094bc35842ff83dd8cbe6f9b6 AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
RUN npm ci && npm prune --omit=dev

FROM node:24.21.0-bookworm-slim@sha256:0e0ff40c39bc087845bfb27465a0df4ea419520094bc35842ff83dd8cbe6f9b6
# docker build --build-arg VERSION=$(node -p "require('./package.json').version") --build-arg REVISION=$(git rev-parse HEAD)
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=https://github.com/trackgate/trackgate
LABEL org.opencontainers.image.title="trackgate" \
      org.opencontainers.image.description="Authentication sidecar for GPS and telematics data services" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
ENV NODE_ENV=production
# glibc: give each freed 1 MiB+ allocation (a scrypt login's 16 MiB work area) back to the system.
# Why and measured: docs/performance-notes.md#glibc-mmap-threshold (test/memory/malloc-env.test.ts).
ENV MALLOC_MMAP_THRESHOLD_=1048576
# V8: a young generation of 2 x 4 MiB instead of 2 x 16; override NODE_OPTIONS to change.
# Why and measured: docs/performance-notes.md#v8-young-generation-size (test/deploy/node-options.test.ts).
ENV NODE_OPTIONS=--max-semi-space-size=4
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY package.json ./
# No config/: its accounts and settings are the demo's (published passwords). The image runs the config mounted at
# /etc/trackgate; the demo needs the repository's config/ mounted (docs/deploy.md).
RUN mkdir -p /var/lib/trackgate && chown node:node /var/lib/trackgate
USER node
# 8080: proxy port (clients), 9090: admin port (metrics, health, JWKS).
EXPOSE 8080 9090
ENV TRACKGATE_LISTEN=0.0.0.0:8080 \
    TRACKGATE_ADMIN_LISTEN=0.0.0.0:9090 \
    TRACKGATE_STORE=sqlite:/var/lib/trackgate/trackgate.sqlite
# For `docker run` and Compose; Kubernetes ignores it and uses the probes of k8s/base. Asks the admin port's
# /healthz wherever TRACKGATE_ADMIN_LISTEN puts it (test/deploy/manifests.test.ts runs this command).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const a=(process.env.TRACKGATE_ADMIN_LISTEN||'').split(':').pop()||'9090';fetch('http://127.0.0.1:'+a+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# V8: the old generation grows to 1.5 x the live heap before the next full collection. Node refuses this flag in
# NODE_OPTIONS, so it is on the command line. Why: docs/performance-notes.md#v8-old-generation-growth.
ENTRYPOINT ["node", "--heap-growing-percent=50", "bin/trackgate.js"]
CMD ["--config", "/etc/trackgate/trackgate.yaml"]

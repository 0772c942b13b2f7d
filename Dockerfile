# syntax=docker/dockerfile:1
# trackgate container image. Build: docker build -t trackgate:dev .
# Runs as a non-root user with a read-only root filesystem in mind: state goes to /var/lib/trackgate.

FROM node:24-bookworm AS build
WORKDIR /app
# better-sqlite3 compiles against Node's headers here (python3, make, g++ are in the full image).
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
RUN npm ci && npm prune --omit=dev

FROM node:24-bookworm-slim
ENV NODE_ENV=production
# glibc: allocations of 1 MiB and more (each scrypt login's 16 MiB work area) are mmapped and given back to the
# system when freed. Left dynamic, glibc raises this threshold after the first such free and keeps later ones in
# its per-thread arenas: 8 concurrent scrypt logins left an idle trackgate at ~174 MiB resident instead of ~105.
# (test/memory/malloc-env.test.ts; the bench runs trackgate with this setting too.)
ENV MALLOC_MMAP_THRESHOLD_=1048576
# V8: a young generation of 2 x 4 MiB instead of Node's 2 x 16 MiB, which a busy proxy fills between scavenges, and
# which lets more garbage reach the old generation before each full collection. Filling a cache of 100,000 identities
# at full load peaked at 145-183 MiB resident (160-162 in full bench runs) instead of 205, for the same to ~10 % more
# CPU per request in interleaved runs (measured before the SQLite page cache and the ENTRYPOINT flag below).
# (test/deploy/node-options.test.ts; the bench runs trackgate with this setting too; override NODE_OPTIONS to change.)
ENV NODE_OPTIONS=--max-semi-space-size=4
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY package.json ./
COPY config ./config
RUN mkdir -p /var/lib/trackgate && chown node:node /var/lib/trackgate
USER node
# 8080: proxy port (clients), 9090: admin port (metrics, health, JWKS).
EXPOSE 8080 9090
ENV TRACKGATE_LISTEN=0.0.0.0:8080 \
    TRACKGATE_ADMIN_LISTEN=0.0.0.0:9090 \
    TRACKGATE_STORE=sqlite:/var/lib/trackgate/trackgate.sqlite
# V8: the old generation may grow to 1.5 x the heap live after a full collection before the next one, instead of a
# factor V8 picks from its own GC speed (1.4-1.8 and beyond). A fill of 100,000 cached identities at full load peaked
# at 127-134 MiB resident instead of 127-174, for the same CPU per request. Node refuses this flag in NODE_OPTIONS,
# so it is on the command line. (test/deploy/node-options.test.ts; the bench runs trackgate with it too.)
ENTRYPOINT ["node", "--heap-growing-percent=50", "bin/trackgate.js"]
CMD ["--config", "/etc/trackgate/trackgate.yaml"]

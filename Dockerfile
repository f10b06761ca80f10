# One image, two roles: `blobstash operator` and the restic wrapper that backup/restore Jobs run.
# Versions match e2e/tools/versions.env, which the local tests use. The local cluster builds the same
# image without Docker (e2e/images/recipes/blobstash.ts); e2e/images/dockerfile.test.ts holds the two
# to the same user, entrypoint, environment, paths and versions.
ARG NODE_VERSION=24.21.0
ARG RESTIC_VERSION=v0.19.1

FROM golang:1.26-bookworm AS restic
ARG RESTIC_VERSION
WORKDIR /build
RUN printf 'module b\ngo 1.24\nrequire github.com/restic/restic %s\n' "$RESTIC_VERSION" > go.mod \
 && printf 'package main\nimport _ "github.com/restic/restic/cmd/restic"\nfunc main() {}\n' > tools.go \
 && go mod tidy \
 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/restic github.com/restic/restic/cmd/restic

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY operator ./operator
RUN npm run build && npm prune --omit=dev

FROM node:${NODE_VERSION}-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
 && groupadd -g 65532 nonroot && useradd -u 65532 -g 65532 -d /tmp -s /usr/sbin/nologin -M nonroot
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin/blobstash ./bin/blobstash
COPY --from=restic /out/restic /usr/local/bin/restic
RUN ln -s /app/bin/blobstash /usr/local/bin/blobstash
# Distroless-style non-root user; Jobs run as the same uid with a read-only root filesystem.
USER 65532:65532
ENV NODE_ENV=production HOME=/tmp
ENTRYPOINT ["blobstash"]
CMD ["operator"]

# syntax=docker/dockerfile:1
# One image for both the gateway and the operator:
#   docker run IMAGE gateway --config /config/switchyard.yaml
#   docker run IMAGE operator --gateway-service NS/NAME
# Build and push: docs/kubernetes.md, "Container image" (docker buildx with the OCI label arguments).

# Node 24 (the current LTS) on Debian 12, pinned by the digest of the multi-arch index of
# node:24-bookworm-slim (Node 24.18.1, published 2026-07-30), so a rebuild gets the same base.
# Refresh it with `docker buildx imagetools inspect node:24-bookworm-slim`.
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:235600a8101ab264e117b1768e925532262668dc9b581ef1dd7d96ced463b8e7

# --- build: dev dependencies, TypeScript → dist/ ---------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# --- production dependencies only -----------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- tini, from Debian, fetched here so the runtime stage never runs apt -----------------------
FROM ${NODE_IMAGE} AS tini
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

# --- runtime -------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/switchyard-dev/switchyard
LABEL org.opencontainers.image.title="switchyard" \
      org.opencontainers.image.description="Kubernetes-native gateway for the Anthropic Messages API (gateway and operator)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
# Nothing at run time installs anything: npm, npx, corepack and yarn go, and so do the apt and
# dpkg programs. /var/lib/dpkg stays, so image scanners still see which Debian packages are in.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
           /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-v* \
           /usr/bin/apt /usr/bin/apt-* /usr/bin/dpkg /usr/bin/dpkg-* /usr/lib/apt /etc/apt /var/cache/apt
# tini is PID 1: it forwards SIGTERM/SIGINT to node (which drains, see gateway/src/cli.ts) and
# reaps zombies; node itself then runs with the kernel's normal signal semantics.
COPY --from=tini /usr/bin/tini /usr/bin/tini
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
# The compiler reads the CRD schemas at run time (gateway/src/config/package-root.ts looks for package.json
# and crds/ above dist/).
COPY crds ./crds
COPY examples ./examples
COPY --from=build /src/dist ./dist
# The image's `node` user (uid/gid 1000), numeric so Kubernetes' runAsNonRoot can check it.
USER 1000:1000
EXPOSE 8080 9090
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/gateway/src/cli.js"]
CMD ["gateway"]

# syntax=docker/dockerfile:1
# One image for both the gateway and the operator:
#   docker run IMAGE gateway --config /config/switchyard.yaml
#   docker run IMAGE operator --gateway-service NS/NAME
# Build: docker build -t switchyard:dev .

ARG NODE_IMAGE=node:20-bookworm-slim

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

# --- runtime -------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
# tini is PID 1: it forwards SIGTERM/SIGINT to node (which drains, see gateway/src/cli.ts) and
# reaps zombies; node itself then runs with the kernel's normal signal semantics.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
# The compiler reads the CRD schemas at run time (operator/src/paths.ts looks for package.json
# and crds/ above dist/).
COPY crds ./crds
COPY examples ./examples
COPY --from=build /src/dist ./dist
# The image's `node` user (uid/gid 1000), numeric so Kubernetes' runAsNonRoot can check it.
USER 1000:1000
EXPOSE 8080 9090
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/gateway/src/cli.js"]
CMD ["gateway"]

# syntax=docker/dockerfile:1
# One image for all six services. The build arg SERVICE (or the env var SERVICE at run time)
# chooses which one the container runs:
#   docker build --build-arg SERVICE=policy -t securegateway-policy .
#   docker run -e SERVICE=executor securegateway-policy      # same image, another service
# The image also holds examples/upstream/server.mjs (the example tool server).

ARG NODE_VERSION=20

# ---- build: install every dependency, compile every project with tsc (through Nx) ----
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
ENV NX_DAEMON=false NX_NO_CLOUD=true NX_SKIP_NX_CACHE=true CI=true
# Manifests first, so the npm ci layer is reused while only sources change.
COPY package.json package-lock.json ./
COPY libs/contracts/package.json libs/contracts/
COPY libs/messaging/package.json libs/messaging/
COPY libs/config/package.json libs/config/
COPY libs/runtime/package.json libs/runtime/
COPY libs/testing/package.json libs/testing/
COPY services/ingress/package.json services/ingress/
COPY services/policy/package.json services/policy/
COPY services/executor/package.json services/executor/
COPY services/audit/package.json services/audit/
COPY services/federation/package.json services/federation/
COPY services/analytics/package.json services/analytics/
RUN npm ci --no-audit --no-fund
COPY nx.json tsconfig.base.json ./
COPY libs libs
COPY services services
RUN npx nx run-many -t build --projects=contracts,messaging,config,runtime,ingress,policy,executor,audit,federation,analytics --output-style=stream

# ---- deps: production dependencies only, with the workspace links (node_modules/@sg/*) ----
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY --from=build /src/package.json /src/package-lock.json ./
COPY --from=build /src/libs/contracts/package.json libs/contracts/
COPY --from=build /src/libs/messaging/package.json libs/messaging/
COPY --from=build /src/libs/config/package.json libs/config/
COPY --from=build /src/libs/runtime/package.json libs/runtime/
COPY --from=build /src/libs/testing/package.json libs/testing/
COPY --from=build /src/services/ingress/package.json services/ingress/
COPY --from=build /src/services/policy/package.json services/policy/
COPY --from=build /src/services/executor/package.json services/executor/
COPY --from=build /src/services/audit/package.json services/audit/
COPY --from=build /src/services/federation/package.json services/federation/
COPY --from=build /src/services/analytics/package.json services/analytics/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime ----
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    CONFIG_DIR=/etc/securegateway
COPY --from=deps /app ./
# Built output only (dist/), plus the audit migrations that the audit service applies at start.
COPY --from=build /src/libs/contracts/dist libs/contracts/dist
COPY --from=build /src/libs/messaging/dist libs/messaging/dist
COPY --from=build /src/libs/config/dist libs/config/dist
COPY --from=build /src/libs/runtime/dist libs/runtime/dist
COPY --from=build /src/services/ingress/dist services/ingress/dist
COPY --from=build /src/services/policy/dist services/policy/dist
COPY --from=build /src/services/executor/dist services/executor/dist
COPY --from=build /src/services/audit/dist services/audit/dist
COPY --from=build /src/services/audit/migrations services/audit/migrations
COPY --from=build /src/services/federation/dist services/federation/dist
COPY --from=build /src/services/analytics/dist services/analytics/dist
COPY examples/upstream examples/upstream
ARG SERVICE=ingress
ENV SERVICE=${SERVICE}
USER node
# Ports: ingress 8080, policy 8091, executor 8092, audit 8093, federation 8094, analytics 8095
# (GET /healthz on each).
EXPOSE 8080 8091 8092 8093 8094 8095
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "exec node --enable-source-maps services/${SERVICE}/dist/main.js"]

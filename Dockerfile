# syntax=docker/dockerfile:1
# One image for all six services. The build arg SERVICE (or the env var SERVICE at run time)
# chooses which one the container runs:
#   docker build --build-arg SERVICE=policy -t securegateway-policy .
#   docker run -e SERVICE=executor securegateway-policy      # same image, another service
# The image also holds examples/upstream/server.mjs (the example tool server).

ARG NODE_VERSION=24

# ---- build: install every dependency, compile every project with tsc (through Nx) ----
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
ENV NX_DAEMON=false NX_NO_CLOUD=true NX_SKIP_NX_CACHE=true CI=true
COPY . .
RUN npm ci --no-audit --no-fund
RUN npx nx run-many -t build --output-style=stream
# What the image needs of each workspace package: its package.json, its dist/ and the SQL
# migrations a service applies at start (the dashboard: its built dist/). Listed by the glob, so a new package cannot be left out.
RUN mkdir /prod && cp package.json package-lock.json /prod/ \
 && for d in apps/* libs/* services/*; do \
      mkdir -p /prod/$d && cp $d/package.json /prod/$d/; \
      if [ -d $d/dist ]; then cp -r $d/dist /prod/$d/; fi; \
      if [ -d $d/migrations ]; then cp -r $d/migrations /prod/$d/; fi; \
    done

# ---- deps: production dependencies only, with the workspace links (node_modules/@sg/*) ----
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY --from=build /prod ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

# ---- runtime ----
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    CONFIG_DIR=/etc/securegateway
COPY --from=deps /app ./
COPY examples/upstream examples/upstream
ARG SERVICE=ingress
ENV SERVICE=${SERVICE}
USER node
# Ports: ingress 8080, policy 8091, executor 8092, audit 8093, federation 8094, analytics 8095
# (GET /healthz on each).
EXPOSE 8080 8091 8092 8093 8094 8095
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "exec node --enable-source-maps services/${SERVICE}/dist/main.js"]

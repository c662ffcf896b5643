# Tripwarden server image (the agent is not containerised: it is one
# executable run by systemd on each watched host, see docs/DEPLOY.md).
#
#   docker build -t tripwarden-server .
#   docker run --rm -v tw-data:/data tripwarden-server init --dir /data
#   docker run -d --name tripwarden -v tw-data:/data -p 7443:7443 tripwarden-server
#
# The dashboard stays on 127.0.0.1:7080 inside the container (plain HTTP,
# reachable with `docker exec`); publishing it means binding 0.0.0.0, which
# the server serves over HTTPS: CMD ["serve","--dir","/data","--dashboard","0.0.0.0:7080"]
# plus -p 127.0.0.1:7080:7080. The HEALTHCHECK probes both forms.

FROM node:20-bookworm AS build
WORKDIR /app
# better-sqlite3 compiles from source (scripts/build-sqlite.mjs, the
# postinstall). The official image has Node's headers in
# /usr/local/include/node, beside its node; nodedir names them outright.
ENV npm_config_nodedir=/usr/local
# package.json's allowScripts (which install scripts may run) needs npm 11.
RUN npm install --global npm@11.19.1
COPY package.json package-lock.json ./
COPY scripts/unshadow-node.mjs scripts/build-sqlite.mjs scripts/build-server.mjs scripts/
# Production dependencies only (tsx included: the server runs through it).
# The dev ones (TypeScript, esbuild, the Node 24 used for the agent build) are
# never installed, which is the pruning.
RUN npm ci --omit=dev --strict-allow-scripts && npm cache clean --force
COPY tsconfig.json ./
COPY shared ./shared
COPY server ./server

FROM node:20-bookworm-slim
ENV NODE_ENV=production
RUN groupadd --system --gid 10001 tripwarden \
 && useradd --system --uid 10001 --gid tripwarden --home-dir /data --shell /usr/sbin/nologin tripwarden \
 && install -d -o tripwarden -g tripwarden -m 0700 /data
WORKDIR /opt/tripwarden
COPY --from=build /app /opt/tripwarden
COPY scripts/healthcheck.mjs ./scripts/healthcheck.mjs
USER tripwarden
VOLUME /data
# 7443: agents (wss, mutual TLS). 7080: dashboard.
EXPOSE 7443 7080
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
  CMD ["node", "/opt/tripwarden/scripts/healthcheck.mjs"]
ENTRYPOINT ["node", "--import", "tsx", "server/main.ts"]
CMD ["serve", "--dir", "/data"]

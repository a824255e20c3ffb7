# flow-collector container image.
#
# Stage 1 compiles the TypeScript and the native ingest addon (recvmmsg / SO_REUSEPORT) for the
# build platform's architecture, and packs the npm tarball with the addon as a prebuild.
# Stage 2 installs that tarball with --omit=dev into an empty directory of a slim Node 20 image
# that has no compiler: the prebuild is loaded, nothing is built. test/image.test.ts runs this
# same install path (npm pack, install --omit=dev with no compiler on PATH, --check-config, a
# datagram through serve), since Docker is not available where the tests run.
#
#   docker build -t flow-collector .
#   docker run --rm -p 2055:2055/udp flow-collector --listen 0.0.0.0:2055

FROM node:20-bookworm AS build
# Build against the image's own Node headers (no header download).
ENV npm_config_nodedir=/usr/local
WORKDIR /src
COPY package.json package-lock.json tsconfig.json binding.gyp ./
COPY native ./native
COPY scripts ./scripts
COPY src ./src
COPY proto ./proto
COPY data ./data
# "prepare" compiles the TypeScript; the addon is built by the prebuild step below instead.
RUN FLOW_COLLECTOR_INGEST=dgram npm ci --no-audit --no-fund
RUN node scripts/prebuild.mjs --arch "$(node -p process.arch)"
RUN mkdir /out && npm pack --pack-destination /out && mv /out/flow-collector-*.tgz /out/flow-collector.tgz

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /opt/flow-collector
COPY --from=build /out/flow-collector.tgz /tmp/flow-collector.tgz
RUN printf '{"name":"flow-collector-image","version":"0.0.0","private":true}\n' > package.json \
 && npm install --omit=dev --no-audit --no-fund --foreground-scripts /tmp/flow-collector.tgz \
 && rm /tmp/flow-collector.tgz \
 && npm cache clean --force \
 && ! command -v g++ && ! command -v cc && ! command -v make
ENV PATH=/opt/flow-collector/node_modules/.bin:$PATH
# The image's "node" user; the Helm chart runs it as 1000:1000 with a read-only root filesystem.
USER 1000:1000
RUN flow-collector serve --check-config > /dev/null
# NetFlow, IPFIX, sFlow (UDP); metrics and health (TCP, set metrics.address to 0.0.0.0:9191 to reach it).
EXPOSE 2055/udp 4739/udp 6343/udp 9191/tcp
ENTRYPOINT ["flow-collector", "serve"]

# nftpol's image: `make image`. Two stages: the first compiles the TypeScript with the dev dependencies,
# the second holds only Node.js 24, Debian's nft and the production dependencies.
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the `node` devDependency would download a second Node.js binary; the image has one.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json \
 && npm prune --omit=dev --ignore-scripts \
 && find node_modules \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete

FROM node:24-bookworm-slim
# nft talks netlink to the kernel; libnftables comes with it. conntrack (strict mode) and python3-minimal
# (the denied-connection log's NFLOG helper: Node.js has no AF_NETLINK) are used only when their flags are on.
RUN apt-get update \
 && apt-get install -y --no-install-recommends nftables conntrack python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
ENV NODE_ENV=production
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["agent"]

# Dockerfile - the gateway in one container: devmgr, fcgi-app, wsrelay and
# the waprocs behind nginx, started by webconf/run.sh (as `make run` does).
#   docker build -t whatsapp-gateway .
#   docker run -p 127.0.0.1:3000:3000 -v wagw:/app/var \
#       -e DEFAULT_ADMIN_PASS=change-me whatsapp-gateway
# State (registry, device stores, JWT secret) lives in the /app/var volume.

# ---- build ------------------------------------------------------------------
FROM debian:12-slim AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
	build-essential pkg-config make ca-certificates \
	libfcgi-dev libsqlite3-dev libjson-c-dev libjwt-dev \
	libcurl4-openssl-dev libqrencode-dev libprotobuf-c-dev \
	protobuf-c-compiler libsodium-dev libssl-dev libzmq3-dev \
	libwebsockets-dev libpng-dev zlib1g-dev \
	&& rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j"$(nproc)" build/bin/devmgr build/bin/fcgi-app build/bin/wactl \
	build/bin/waproc build/bin/wsrelay

# ---- runtime ----------------------------------------------------------------
FROM debian:12-slim
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
	libfcgi0ldbl libsqlite3-0 libjson-c5 libjwt0 libcurl4 libqrencode4 \
	libprotobuf-c1 libsodium23 libssl3 libzmq5 libwebsockets17 \
	libpng16-16 zlib1g ca-certificates \
	nginx curl tini \
	&& rm -rf /var/lib/apt/lists/* \
	&& useradd --system --home-dir /app --shell /usr/sbin/nologin wagw
WORKDIR /app
COPY --from=build /src/build/bin/ /app/build/bin/
COPY webconf/ /app/webconf/
RUN mkdir -p /app/var && chown wagw:wagw /app/var && chmod 0700 /app/var

# Inside the container the web server listens on every interface; publish
# the port on 127.0.0.1 of the host unless a TLS proxy sits in front.
ENV API_HOST=0.0.0.0 \
    API_PORT=3000 \
    VAR_DIR=/app/var \
    WEB_SERVER=nginx \
    WSRELAY_PORT=3001
USER wagw
VOLUME ["/app/var"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
	CMD curl -fsS "http://127.0.0.1:${API_PORT}/api/health" >/dev/null || exit 1
# tini: PID 1 forwards SIGTERM to run.sh and reaps orphans.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["sh", "webconf/run.sh"]

# Verdict's production image. Build: docker build -t verdict:0.1.0 .
# Runtime: Ubuntu noble, whose librdkafka (2.3) is new enough (>= 2.2); no compiler, no shell tools
# beyond the base image's, no curl: HEALTHCHECK runs `verdict healthcheck`.
ARG SWIFT_VERSION=6.3
ARG VERSION=0.1.0

FROM swift:${SWIFT_VERSION}-noble AS build
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends librdkafka-dev pkg-config libssl-dev libzstd-dev liblz4-dev zlib1g-dev libsasl2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so a source change does not re-resolve them.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
# haswell (the default): the forest evaluator uses AVX2 and FMA, and the image refuses, with a
# message, to start on an older CPU; x86-64 runs on any (docs/operations.md, "CPU").
ARG VERDICT_TARGET_CPU=haswell
RUN VERDICT_TARGET_CPU=${VERDICT_TARGET_CPU} swift build -c release --product verdict --static-swift-stdlib \
 && install -D .build/release/verdict /out/verdict

FROM ubuntu:noble
ARG VERSION
LABEL org.opencontainers.image.title="verdict" \
      org.opencontainers.image.description="Kafka stream scorer for payment risk: tree-ensemble models, stream rules, APPROVE/REVIEW/DECLINE decisions" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/verdict-risk/verdict" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="Verdict"
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends librdkafka1 ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/verdict --no-create-home verdict
COPY --from=build /out/verdict /usr/local/bin/verdict
COPY config /etc/verdict
COPY --chown=10001:10001 models /var/lib/verdict/models
# The shipped config points at ../models relative to itself; in the image the model lives here.
# Nothing else is written at run time (logs go to stdout), so the root filesystem can be read-only;
# activating a model version writes ACTIVE into the model volume, not the image.
ENV VERDICT_MODEL_PATH=/var/lib/verdict/models/verdict-fraud
USER 10001:10001
EXPOSE 9102
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/local/bin/verdict", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/verdict"]
CMD ["serve", "--config", "/etc/verdict/verdict.yaml"]

# Production image: Ubuntu noble ships librdkafka 2.3 (>= 2.2, which Verdict needs) from apt.
# docker build -t verdict:latest .
ARG SWIFT_VERSION=6.3
FROM swift:${SWIFT_VERSION}-noble AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends librdkafka-dev pkg-config libssl-dev libzstd-dev liblz4-dev zlib1g-dev libsasl2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product verdict --static-swift-stdlib \
 && install -D .build/release/verdict /out/verdict

FROM ubuntu:noble
RUN apt-get update \
 && apt-get install -y --no-install-recommends librdkafka1 ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/verdict verdict
COPY --from=build /out/verdict /usr/local/bin/verdict
COPY config /etc/verdict
COPY models /var/lib/verdict/models
# The shipped config points at ../models relative to itself; in the image the model lives here.
ENV VERDICT_MODEL_PATH=/var/lib/verdict/models/verdict-fraud
USER 10001
EXPOSE 9102
ENTRYPOINT ["/usr/local/bin/verdict"]
CMD ["serve", "--config", "/etc/verdict/verdict.yaml"]

# One image per process of the platform, built as targets of one file so they share layers:
#   code       the Dagster code location (gRPC server); runs launched by the daemon execute here
#   webserver  the Dagster UI and GraphQL API
#   daemon     schedules, sensors, run queue and backfills
#   api        the Litestar REST API (reads the warehouse ORC files, starts no JVM)
# Every target has Java 17 and Debian's PostgreSQL JDBC driver, because pyspark 4 needs
# Java 17 or newer and Spark's JDBC reads and the Hive metastore need the driver. The stage
# local-fs compiles the jar of the local file system Spark writes through
# (scripts/build_local_fs.sh) with a JDK that the images themselves do not carry.
FROM python:3.11-slim-bookworm AS base
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        openjdk-17-jre-headless libpostgresql-jdbc-java procps \
    && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \
    DM_JDBC_JAR=/usr/share/java/postgresql.jar \
    DAGSTER_HOME=/opt/dagster/home \
    PYTHONUNBUFFERED=1
WORKDIR /opt/deploy_manager
COPY pyproject.toml ./
COPY deploy_manager ./deploy_manager
COPY api_service ./api_service
RUN pip install --no-cache-dir . \
    && mkdir -p "$DAGSTER_HOME" /data
COPY dagster.yaml /opt/dagster/home/dagster.yaml
COPY docker/workspace.yaml /opt/deploy_manager/workspace.yaml

FROM base AS local-fs
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        openjdk-17-jdk-headless \
    && rm -rf /var/lib/apt/lists/*
COPY scripts/build_local_fs.sh ./scripts/build_local_fs.sh
RUN scripts/build_local_fs.sh python

FROM base AS runtime
COPY --from=local-fs /usr/local/share/deploy-manager/local-fs.jar \
    /usr/local/share/deploy-manager/local-fs.jar

FROM runtime AS code
EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", \
     "-m", "deploy_manager.definitions", "--location-name", "deploy_manager"]

FROM runtime AS webserver
EXPOSE 3000
CMD ["dagster-webserver", "-w", "workspace.yaml", "-h", "0.0.0.0", "-p", "3000"]

FROM runtime AS daemon
CMD ["dagster-daemon", "run", "-w", "workspace.yaml"]

FROM runtime AS api
EXPOSE 8000
CMD ["deploy-manager", "serve-api"]

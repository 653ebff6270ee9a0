# PostgreSQL for the raw layer, the Hive metastore and the Dagster instance: one server, one
# database each, created on the first start by postgres-init.sql.
FROM postgres:16-bookworm
COPY docker/postgres-init.sql /docker-entrypoint-initdb.d/10-deploy-manager.sql

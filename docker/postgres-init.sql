-- Runs once, when the data volume is empty, as the POSTGRES_USER of the compose file.
CREATE DATABASE deploy_manager;
CREATE DATABASE metastore;
CREATE DATABASE dagster;

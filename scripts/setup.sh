#!/usr/bin/env bash
# Installs what the platform needs on a fresh machine, skipping what is already there:
# the Python environment (.venv), the PostgreSQL JDBC driver, a running PostgreSQL and the
# jar of the local file system that Spark writes through (scripts/build_local_fs.sh).
# Needs Python 3.11 and Java 17; installs Debian packages with apt-get when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin="${PYTHON:-python3.11}"
if ! command -v "$python_bin" >/dev/null; then
    echo "setup: $python_bin not found: install Python 3.11 or set PYTHON to its path" >&2
    exit 1
fi
if ! java -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])'; then
    echo "setup: Java 17 or newer not found: install openjdk-17-jre-headless" >&2
    exit 1
fi

apt_install() {
    if [ "$(id -u)" != 0 ]; then
        echo "setup: missing Debian packages $*: run 'sudo apt-get install $*'" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

jdbc_jar="${DM_JDBC_JAR:-/usr/share/java/postgresql.jar}"
if [ ! -f "$jdbc_jar" ]; then
    echo "setup: installing the PostgreSQL JDBC driver (libpostgresql-jdbc-java)"
    apt_install libpostgresql-jdbc-java
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    if ! command -v pg_ctlcluster >/dev/null; then
        echo "setup: installing PostgreSQL"
        apt_install postgresql
    fi
    version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    echo "setup: starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 1 30); do
        pg_isready -q -h 127.0.0.1 -p 5432 && break
        sleep 1
    done
fi

stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "setup: installing the Python environment in .venv"
    [ -x .venv/bin/python ] || "$python_bin" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[test]'
    rm -f .venv/.installed-*
    touch "$stamp"
fi
scripts/build_local_fs.sh .venv/bin/python

#!/usr/bin/env bash
# Compiles deploy_manager/resources/jvm/LocalFileSystemWithoutShell.java against the Hadoop jars
# of an installed pyspark and writes the jar to <python prefix>/share/deploy-manager/, where
# deploy_manager/resources/spark.py looks for it. Skips the work when the jar is newer than the
# source and than pyspark's Hadoop jar. Usage: scripts/build_local_fs.sh [PYTHON]   (default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin="${1:-.venv/bin/python}"
src=deploy_manager/resources/jvm/LocalFileSystemWithoutShell.java
prefix="$("$python_bin" -c 'import sys; print(sys.prefix)')"
jar="$prefix/share/deploy-manager/local-fs.jar"
spark_jars="$("$python_bin" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')/jars"
hadoop_api="$(ls "$spark_jars"/hadoop-client-api-*.jar)"
if [ -f "$jar" ] && [ "$jar" -nt "$src" ] && [ "$jar" -nt "$hadoop_api" ]; then
    exit 0
fi
if ! command -v javac >/dev/null || ! command -v jar >/dev/null; then
    echo "setup: javac not found, so Spark writes through Hadoop's local file system, which" \
        "starts a chmod process per file: install openjdk-17-jdk-headless for faster writes" >&2
    exit 0
fi
classpath="$(printf '%s:' "$spark_jars"/hadoop-client-*.jar)"
classes="$(mktemp -d)"
trap 'rm -rf "$classes"' EXIT
javac --release 17 -nowarn -d "$classes" -cp "$classpath" "$src"
mkdir -p "$(dirname "$jar")"
jar cf "$jar" -C "$classes" .
echo "setup: built $jar"

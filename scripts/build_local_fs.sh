#!/usr/bin/env bash
# Compiles deploy_manager/resources/jvm/LocalFileSystemWithoutShell.java against the Hadoop jars
# of an installed pyspark and writes the jar to <python prefix>/share/deploy-manager/, where
# deploy_manager/resources/spark.py looks for it. Skips the work when the jar is newer than the
# source and than pyspark's Hadoop jar. Without a JDK, or when the compile fails, it warns and
# exits 0, because Spark then writes through its default class, which is only slower.
# Usage: scripts/build_local_fs.sh [PYTHON]   (default .venv/bin/python)
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

# Prints why the jar was not built, and what Spark uses instead.
not_built() {
    if [ -f "$jar" ]; then
        echo "setup: $1, so Spark keeps using the older $jar: $2" >&2
    else
        echo "setup: $1, so Spark writes through its default local file system, which starts" \
            "a chmod process per file: $2" >&2
    fi
    exit 0
}

for tool in javac jar; do
    command -v "$tool" >/dev/null || not_built "$tool not found" "install openjdk-17-jdk-headless"
done
classpath="$(printf '%s:' "$spark_jars"/hadoop-client-*.jar)"
classes="$(mktemp -d)"
trap 'rm -rf "$classes"' EXIT
javac --release 17 -nowarn -d "$classes" -cp "$classpath" "$src" \
    || not_built "compiling $src failed" "see the javac output above (JDK 17 or newer needed)"
mkdir -p "$(dirname "$jar")"
jar cf "$jar" -C "$classes" . || not_built "writing $jar failed" "see the output above"
echo "setup: built $jar"

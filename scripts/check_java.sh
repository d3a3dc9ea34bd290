#!/usr/bin/env bash
# Spark 4 runs on Java 17 or 21. Fail fast with instructions instead of a Py4J stack trace later.
set -euo pipefail
how="Install a JDK 17, e.g. 'sudo apt-get install openjdk-17-jdk-headless' (Debian/Ubuntu), 'brew install openjdk@17' (macOS), then make sure 'java' is on PATH or JAVA_HOME is set."
java_bin="java"
if [ -n "${JAVA_HOME:-}" ] && [ -x "${JAVA_HOME}/bin/java" ]; then java_bin="${JAVA_HOME}/bin/java"; fi
if ! command -v "$java_bin" >/dev/null 2>&1; then
  echo "ERROR: Java was not found. retarget runs Spark 4, which needs Java 17 or newer." >&2
  echo "$how" >&2
  exit 1
fi
version_line=$("$java_bin" -version 2>&1 | head -n 1)
major=$(echo "$version_line" | sed -E 's/.*version "([0-9]+)(\.[0-9]+)*.*/\1/')
if ! [[ "$major" =~ ^[0-9]+$ ]] || [ "$major" -lt 17 ]; then
  echo "ERROR: found '$version_line', but Spark 4 needs Java 17 or newer." >&2
  echo "$how" >&2
  exit 1
fi

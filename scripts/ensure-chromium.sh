#!/usr/bin/env bash
# Install Debian's headless browser and its WebDriver for the browser tests, only when
# one of them is missing (no browser downloads: the distribution's packages only).
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo missing)"

#!/bin/sh
# `make install`: the SDK's tests need Chromium (driven by the playwright package) and Node (node --test).
# Installed with apt where we can (root on Debian/Ubuntu); otherwise one line says what to install.
missing=""
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || [ -n "$CHROMIUM" ] || missing="$missing chromium"
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
else
	echo "make install: the browser and SDK tests need:$missing (Debian/Ubuntu: sudo apt-get install$missing; or set CHROMIUM=/path/to/chromium)" >&2
fi

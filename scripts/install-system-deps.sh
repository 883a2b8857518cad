#!/bin/sh
# What the tests use from the system, beyond PyPI: Chromium (the HTML report is
# opened in a real headless browser) and Graphviz `dot` (the HTML report's
# layout). Installs them with apt-get where this runs as root on Debian/Ubuntu;
# elsewhere it says what is missing and the tests that need it skip, naming it.
# Never fails the command that calls it.
need=""
fonts=""
command -v chromium >/dev/null 2>&1 || { need="$need chromium"; fonts="fonts-dejavu-core"; }
command -v dot >/dev/null 2>&1 || need="$need graphviz"
[ -z "$need" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing:$need (apt-get)"
    if apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need $fonts >/dev/null; then
        exit 0
    fi
    echo "warning: apt-get could not install$need; the browser and dot tests will skip" >&2
else
    echo "note: not root or no apt-get; install$need yourself for the browser and dot tests (they skip without)" >&2
fi
exit 0

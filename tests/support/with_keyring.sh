#!/bin/sh
# Runs a command on a private D-Bus session bus with a GNOME Keyring of its own, unlocked with a throwaway
# password: a real Secret Service for the tests, in a temporary home that is gone afterwards. DEEPSTACK_KEYRING=running
# tells the test that it is there.
#   tests/support/with_keyring.sh COMMAND [ARG...]
set -eu
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
mkdir -p "$home/data" "$home/run"
chmod 700 "$home/run"
HOME="$home" XDG_DATA_HOME="$home/data" XDG_RUNTIME_DIR="$home/run" DEEPSTACK_KEYRING=running \
    dbus-run-session -- sh -c '
        printf throwaway | gnome-keyring-daemon --unlock --components=secrets >/dev/null
        status=0
        "$@" || status=$?
        # The daemon would outlive the bus it served: it belongs to this run alone.
        pkill -u "$(id -u)" -f "^gnome-keyring-daemon --unlock --components=secrets" 2>/dev/null || true
        exit $status' with-keyring "$@"

#!/usr/bin/env bash
# Install into .venv with the test tools, make sure the database answers, and run the tests.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" dev,docs
# The browser tests drive the system's Chromium (Debian's package; Playwright never downloads one). Install it
# where this user may; elsewhere those tests are skipped, saying how to install it.
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq && apt-get install -y -qq chromium >/dev/null || echo "could not install chromium" >&2
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null || echo "could not install chromium" >&2
    fi
fi
element-calcium setup-db
python -m pytest "$@"

#!/usr/bin/env bash
# Install into .venv, make sure the database answers, and run the end-to-end demo.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" dev
element-calcium setup-db
element-calcium demo "$@"

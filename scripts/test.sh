#!/usr/bin/env bash
# Install into .venv with the test tools, make sure the database answers, and run the tests.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh" dev,docs
element-calcium setup-db
python -m pytest "$@"

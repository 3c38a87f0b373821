#!/usr/bin/env bash
# Runs the example on http://127.0.0.1:8001 from its own virtual environment (.venv here),
# creating or updating it first when requirements.txt changed.
set -euo pipefail
cd "$(dirname "$0")"
: "${LOGLENS_API_KEY:?set LOGLENS_API_KEY to the key that loglens dev printed}"
if [ ! -f .venv/.installed ] || [ requirements.txt -nt .venv/.installed ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
  touch .venv/.installed
fi
exec .venv/bin/uvicorn main:app --host 127.0.0.1 --port "${PORT:-8001}"

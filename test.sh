#!/usr/bin/env bash
# Run the whole test suite on SQLite, then on PostgreSQL (DATABASE_ADMIN_URL, default
# postgresql+psycopg://postgres@127.0.0.1:5432/postgres). A missing PostgreSQL fails the run.
# Extra arguments go to pytest, e.g. ./test.sh -k waitlist
set -euo pipefail
cd "$(dirname "$0")"
. scripts/env.sh
ruff format --check . && ruff check .
for backend in sqlite postgres; do
  echo "== tests on $backend"
  # Two workers: the suite's browser and PDF tests wait on Chromium and WeasyPrint more than on Python.
  EVENTREG_TEST_DB=$backend python -m pytest -p no:cacheprovider -n "${TEST_WORKERS:-2}" "$@"
done

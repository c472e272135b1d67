#!/usr/bin/env bash
# Start eventreg on its embedded defaults: SQLite under instance/, mail into instance/outbox/,
# demo data loaded, staff logins printed. Settings come from the environment (see README).
set -euo pipefail
cd "$(dirname "$0")"
. scripts/env.sh
flask --app app db upgrade
flask --app app seed-demo
# The periodic jobs (Celery beat in production) as plain loops beside the app.
flask --app app expire-holds --every 60 &
(while true; do flask --app app send-invoice-reminders >/dev/null; sleep 3600; done) &
(while true; do flask --app app purge-personal-data >/dev/null; sleep 86400; done) &
trap 'kill $(jobs -p) 2>/dev/null' EXIT
HOST=${HOST:-127.0.0.1} PORT=${PORT:-5000}
echo
echo "eventreg is running at http://$HOST:$PORT/  (Ctrl-C stops it)"
flask --app app run --host "$HOST" --port "$PORT"

# Sourced by .ci/run: make sure PostgreSQL (trust login as postgres on 127.0.0.1) and Redis answer,
# starting them if they are down. Exports DATABASE_ADMIN_URL for the tests.
export PGHOST=127.0.0.1 PGUSER=postgres PGPORT="${PGPORT:-5432}"
pg_login() { psql -w -d postgres -Atqc 'select 1' >/dev/null 2>&1; }
if ! pg_login; then
  if [ -d /etc/postgresql ]; then
    echo "ci: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
    for _ in $(seq 1 30); do pg_login && break; sleep 1; done
  fi
  if ! pg_login; then  # no usable cluster: a throwaway one with trust auth on the next free port
    PATH="$PATH:$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
    while pg_isready -q -p "$PGPORT" || ss -ltn | grep -q ":$PGPORT "; do PGPORT=$((PGPORT + 1)); done
    PGTMP=$(mktemp -d /tmp/ci-pg.XXXX) && chown postgres: "$PGTMP"
    runuser -u postgres -- initdb -D "$PGTMP/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
    runuser -u postgres -- pg_ctl -D "$PGTMP/data" -l "$PGTMP/log" -w start -o \
      "-c listen_addresses=127.0.0.1 -c port=$PGPORT -c unix_socket_directories=$PGTMP -c fsync=off" >/dev/null
    export PGPORT
    pg_login || { echo "ci: PostgreSQL unusable"; exit 1; }
  fi
fi
export DATABASE_ADMIN_URL="postgresql+psycopg://postgres@127.0.0.1:$PGPORT/postgres"
echo "ci: PostgreSQL ready on port $PGPORT"

if [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" != PONG ]; then
  command -v redis-server >/dev/null || apt-get install -y -q redis-server >/dev/null
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 20); do [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ] && break; sleep 0.5; done
fi
[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ] || { echo "ci: Redis unusable"; exit 1; }

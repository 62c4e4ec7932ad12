#!/usr/bin/env bash
# The local servers the gateway and its tests need, on Debian or Ubuntu: NATS with JetStream
# (127.0.0.1:4222), Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432, with the database
# "test"). Installs with apt only what is missing, starts only what does not answer, and is a
# quick no-op when everything runs. Needs root or sudo for what it installs or starts.
set -euo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v psql >/dev/null && ls /etc/postgresql/*/main >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

wait_for() {
  for _ in $(seq 1 50); do up "$1" && return 0; sleep 0.2; done
  echo "✗ $2 did not come up on port $1" >&2
  exit 1
}

if up 5432; then echo "PostgreSQL: already running"; else
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
  wait_for 5432 PostgreSQL
  echo "PostgreSQL: started"
fi
if up 6379; then echo "Redis: already running"; else
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  wait_for 6379 Redis
  echo "Redis: started"
fi
if up 4222; then echo "NATS: already running"; else
  as_root mkdir -p /var/lib/nats-server
  nats="$(command -v nats-server || echo /usr/sbin/nats-server)"
  as_root start-stop-daemon --start --oknodo --background --exec "$nats" -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server
  wait_for 4222 NATS
  echo "NATS (JetStream): started"
fi

# The services connect as postgres without a password (DATABASE_URL's default).
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
  cat >&2 <<'MSG'
✗ PostgreSQL refuses a password-less login as postgres from 127.0.0.1. On a development
  machine, either trust it:
    sudo sed -i '1i host all postgres 127.0.0.1/32 trust' /etc/postgresql/*/main/pg_hba.conf
    sudo pg_ctlcluster <version> main reload
  or give postgres a password and set DATABASE_URL (see docs/setup.md).
MSG
  exit 1
fi
if [ "$(psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname = 'test'")" != 1 ]; then
  psql -h 127.0.0.1 -U postgres -d postgres -qc 'CREATE DATABASE test'
  echo "PostgreSQL: created the database test"
fi
echo "✓ NATS, Redis and PostgreSQL are up"

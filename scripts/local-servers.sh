#!/usr/bin/env bash
# The local servers the gateway and its tests need, on Debian or Ubuntu: NATS with JetStream
# (127.0.0.1:4222), Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432, with the database
# "test"). Installs with apt only what is missing, starts only what does not answer, and is a
# quick no-op when everything runs. Needs root or sudo for what it installs or starts.
set -euo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "✗ $1 needs root: run this script as root, or install sudo" >&2
    exit 1
  fi
}
pg_version() { ls /etc/postgresql | sort -V | tail -1; }

# A server that already answers on its port needs no package; psql is needed either way.
missing=()
if ! up 4222 && ! command -v nats-server >/dev/null && [ ! -x /usr/sbin/nats-server ]; then
  missing+=(nats-server)
fi
if ! up 6379 && ! command -v redis-server >/dev/null; then missing+=(redis-server); fi
if ! up 5432 && ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  missing+=(postgresql)
elif ! command -v psql >/dev/null; then
  missing+=(postgresql-client)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "✗ missing: ${missing[*]}; this script installs with apt-get (Debian or Ubuntu)." >&2
    echo "  Install them with your package manager, then run it again." >&2
    exit 1
  fi
  echo "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

wait_for() {
  for _ in $(seq 1 50); do up "$1" && return 0; sleep 0.2; done
  echo "✗ $2 did not come up on port $1${3:+ (see $3)}" >&2
  exit 1
}

# The package's own service may still be starting after an install, so a failed start command
# is not the end: the port decides.
if up 5432; then echo "PostgreSQL: already running"; else
  as_root pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main start || true
  wait_for 5432 PostgreSQL
  echo "PostgreSQL: started"
fi
if up 6379; then echo "Redis: already running"; else
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  wait_for 6379 Redis
  echo "Redis: started"
fi
if up 4222; then echo "NATS: already running"; else
  as_root mkdir -p /var/lib/nats-server
  nats="$(command -v nats-server || echo /usr/sbin/nats-server)"
  # Detached, and not holding this script's output open (a CI log would wait for it).
  as_root setsid -f "$nats" -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server \
    -l /var/log/nats-server.log </dev/null >/dev/null 2>&1 || true
  wait_for 4222 NATS /var/log/nats-server.log
  echo "NATS (JetStream): started"
fi

# The services and the tests connect as postgres without a password (DATABASE_URL's default).
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
  v="$(pg_version 2>/dev/null || echo '<version>')"
  cat >&2 <<MSG
✗ PostgreSQL refuses a password-less login as postgres from 127.0.0.1
  (psql -h 127.0.0.1 -U postgres fails). This script does not change pg_hba.conf for you.
  On a development machine, either trust that login:
    sudo sed -i '1i host all postgres 127.0.0.1/32 trust' /etc/postgresql/$v/main/pg_hba.conf
    sudo pg_ctlcluster $v main reload
  or give postgres a password, export PGPASSWORD for this script and set DATABASE_URL for the
  gateway and the tests (see docs/setup.md). Then run this script again.
MSG
  exit 1
fi
if [ "$(psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname = 'test'")" != 1 ]; then
  psql -h 127.0.0.1 -U postgres -d postgres -qc 'CREATE DATABASE test'
  echo "PostgreSQL: created the database test"
fi
echo "✓ NATS, Redis and PostgreSQL are up"

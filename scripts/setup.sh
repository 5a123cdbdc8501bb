#!/usr/bin/env bash
# Installs and starts what the tests need on a fresh Debian machine; safe to run again.
# - C libraries for Diesel's PostgreSQL and MySQL backends (SQLite is bundled);
# - PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres) and MariaDB on 127.0.0.1:3306
#   (root, empty password) running, each with a `test` database that tests connect to before
#   creating and dropping their own throwaway databases.
set -euo pipefail

log() { printf '[setup] %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for pkg in default-libmysqlclient-dev libpq-dev libsqlite3-dev pkg-config python3-venv; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  log "starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 -q || { log "PostgreSQL is not reachable on 127.0.0.1:5432"; exit 1; }
psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE test"

if ! mariadb-admin -uroot -h127.0.0.1 -P3306 ping >/dev/null 2>&1; then
  log "starting MariaDB"
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  for _ in $(seq 1 30); do mariadb-admin -uroot -h127.0.0.1 -P3306 ping >/dev/null 2>&1 && break; sleep 1; done
fi
mariadb -uroot -h127.0.0.1 -P3306 -e "CREATE DATABASE IF NOT EXISTS test" \
  || { log "MariaDB is not reachable as root on 127.0.0.1:3306"; exit 1; }
log "ready: PostgreSQL and MariaDB reachable, libraries installed"

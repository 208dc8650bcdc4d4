#!/usr/bin/env bash
# Back up a partynet node's database, verify the copy, keep the newest $KEEP.
#
#   node-backup.sh [ENV_FILE]        (default: /etc/partynet/node.env)
#
# PostgreSQL: `pg_dump --format=custom` (restore with pg_restore), checked by listing it.
# SQLite:     the online backup API (`sqlite3 .backup`, or Python's sqlite3 when the CLI is
#             missing): a consistent copy while the node runs; checked with integrity_check.
#
# The dump holds national IDs encrypted under NODE_PII_KEY, which is NOT in the database: keep
# the env file (or at least its keys) backed up separately and safely, or the IDs are lost.
#
# Settings (environment): BACKUP_DIR (default /var/backups/partynet), KEEP (default 14).
# Schedule it, e.g. /etc/cron.d/partynet-backup:
#   15 2 * * *  partynet  /opt/partynet/deploy/backup/node-backup.sh /etc/partynet/node.env
set -euo pipefail
umask 077

env_file=${1:-/etc/partynet/node.env}
backup_dir=${BACKUP_DIR:-/var/backups/partynet}
keep=${KEEP:-14}

url=${NODE_DATABASE_URL:-}
if [[ -z "$url" && -r "$env_file" ]]; then
  url=$(sed -n 's/^[[:space:]]*NODE_DATABASE_URL[[:space:]]*=[[:space:]]*//p' "$env_file" | tail -n 1)
fi
if [[ -z "$url" ]]; then
  echo "node-backup: NODE_DATABASE_URL is not set (environment or $env_file)" >&2
  exit 2
fi

mkdir -p "$backup_dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)

case "$url" in
  postgresql*)
    # Connection parameters go to pg_dump as PG* variables, not as a URL argument: a password
    # on the command line would be visible to every user in the process list.
    eval "$(python3 - "$url" <<'PY'
import shlex, sys
from urllib.parse import parse_qs, unquote, urlsplit
url = urlsplit(sys.argv[1])
query = {k: v[-1] for k, v in parse_qs(url.query).items()}
env = {"PGHOST": query.get("host") or url.hostname, "PGPORT": query.get("port") or url.port,
       "PGUSER": unquote(url.username or ""), "PGPASSWORD": unquote(url.password or ""),
       "PGDATABASE": unquote(url.path.lstrip("/")), "PGSSLMODE": query.get("sslmode")}
for key, value in env.items():
    if value:
        print(f"export {key}={shlex.quote(str(value))}")
PY
)"
    final="$backup_dir/node-$stamp.dump"
    tmp="$final.partial"
    pg_dump --format=custom --compress=6 --file="$tmp"
    pg_restore --list "$tmp" > /dev/null
    ;;
  sqlite*)
    db_path="${url#sqlite:///}"  # sqlite:////abs/path -> /abs/path; sqlite:///rel -> rel
    if [[ ! -f "$db_path" ]]; then
      echo "node-backup: no SQLite database at $db_path" >&2
      exit 2
    fi
    final="$backup_dir/node-$stamp.sqlite"
    tmp="$final.partial"
    if command -v sqlite3 > /dev/null; then
      sqlite3 "$db_path" ".backup '$tmp'"
    else
      python3 - "$db_path" "$tmp" <<'PY'
import sqlite3, sys
source, target = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2])
with target:
    source.backup(target)
source.close(); target.close()
PY
    fi
    check=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' "$tmp")
    if [[ "$check" != "ok" ]]; then
      echo "node-backup: integrity check of the copy failed: $check" >&2
      exit 1
    fi
    gzip -6 "$tmp"
    tmp="$tmp.gz"
    final="$final.gz"
    ;;
  *)
    echo "node-backup: unsupported database URL scheme: ${url%%:*}" >&2
    exit 2
    ;;
esac

mv "$tmp" "$final"
echo "node-backup: wrote $final ($(du -h "$final" | cut -f1))"

# Rotation: keep the newest $keep backups of this node, delete the rest.
find "$backup_dir" -maxdepth 1 -type f \( -name 'node-*.dump' -o -name 'node-*.sqlite.gz' \) \
  -printf '%T@ %p\n' | sort -rn | tail -n +"$((keep + 1))" | cut -d' ' -f2- |
  while IFS= read -r old; do
    rm -f -- "$old"
    echo "node-backup: removed $old"
  done

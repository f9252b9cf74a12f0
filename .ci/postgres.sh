#!/usr/bin/env bash
# Start a throwaway PostgreSQL for the run-log tests and print its URL on the last stdout line.
#
#   export TWEETSENT_TEST_PG_URL=$(bash .ci/postgres.sh | tail -n1)
#
# Installs Debian's postgresql package if no server binary is present, initdb's a cluster in a
# temp dir (trust auth, fsync off: test data only), starts it on 127.0.0.1 on a free port as the
# `postgres` user when run as root, and creates database tweetsent_test. A second call while that
# server still answers prints the same URL again. Stop it with the command printed on stderr.
set -euo pipefail

state=${TWEETSENT_PG_STATE:-/tmp/tweetsent-pg.url}
log() { echo "postgres.sh: $*" >&2; }

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1; }

if [[ -s $state ]]; then
    url=$(cat "$state")
    bin=$(find_bin)
    if [[ -n $bin ]] && "$bin/pg_isready" -q -d "$url" 2>/dev/null; then
        log "reusing the server from an earlier call"
        echo "$url"
        exit 0
    fi
fi

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    log "installing postgresql from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
fi
bin=$(find_bin)

# Run a command as the cluster owner: initdb and postgres refuse to run as root.
if [[ $(id -u) -eq 0 ]]; then
    owner=postgres
    as_owner() { runuser -u postgres -- "$@"; }
else
    owner=$(id -un)
    as_owner() { "$@"; }
fi

dir=$(mktemp -d /tmp/tweetsent-pg.XXXXXX)
chown "$owner" "$dir"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
    || shuf -i 20000-60000 -n 1)

as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" start >&2 \
    || { cat "$dir/server.log" >&2; exit 1; }
as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres tweetsent_test

url="postgresql://postgres@127.0.0.1:$port/tweetsent_test"
echo "$url" >"$state"
log "running from $dir; stop with: runuser -u $owner -- $bin/pg_ctl -D $dir/data stop"
echo "$url"

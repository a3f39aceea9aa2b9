# shellcheck shell=bash
# Sourced by scripts/demo, scripts/api-check and scripts/api-fuzz (not run on its own): a
# PostgreSQL (DATABASE_URL if set, else a throwaway cluster from scripts/dev-db), the server and
# the Twilio emulator built once (debug profile; CARGO_TARGET_DIR is honoured) and started on
# free ports, and the clean-up that stops, by pid, everything started here on any exit.
#
# The sourcing script sets `stack_name` (the prefix of its messages) and calls `stack_up`, which
# sets `server_url` and `emulator_url`; `stack_key ARGS…` creates an API key with the CLI and
# prints its token. Temporary files go to "$work", removed on exit; the logs are
# "$work/server.log" and "$work/emulator.log" (`show_log` prints a tail).

target=${CARGO_TARGET_DIR:-target}
account_sid=AC00000000000000000000000000000000
auth_token=emulator-auth-token
ready_secs=${DEMO_READY_SECS:-120}

work=$(mktemp -d "/tmp/switchboard-${stack_name:?}.XXXXXX")
chmod 755 "$work" # the cluster runs as the postgres user when we are root
server_pid=
emulator_pid=
own_db=

say() { echo "$stack_name: $*" >&2; }

# Stops, by pid, what this script started; then the throwaway cluster. Runs on every exit.
cleanup() {
  local pid
  for pid in $server_pid $emulator_pid; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in $server_pid $emulator_pid; do
    # Bounded: a process that ignores SIGTERM for 10 s is killed.
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$own_db" ]; then SWITCHBOARD_DEV_DB_DIR=$work/db scripts/dev-db stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

free_port() {
  local port
  for port in $(shuf -i 20000-60000 -n 100); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  say "no free port found"; exit 1
}

# Prints a log's tail when a process did not come up.
show_log() { say "last lines of $1:"; tail -n "${2:-30}" "$1" >&2 || true; }

start_database() {
  if [ -n "${DATABASE_URL:-}" ]; then
    say "using DATABASE_URL"
    return
  fi
  say "starting a throwaway PostgreSQL in $work/db"
  local line
  line=$(SWITCHBOARD_DEV_DB_DIR=$work/db SWITCHBOARD_DEV_DB_FAST=1 scripts/dev-db | tail -n 1)
  own_db=1
  export DATABASE_URL=${line#DATABASE_URL=}
}

build() {
  say "building the server and the emulator (cargo build --bins)"
  cargo build --locked --bins
}

# The emulator picks its own port (--listen :0) and says which on the first line of stdout, so
# there is no race for it; Switchboard's port is chosen first because the emulator targets it.
start_emulator() {
  local server_url=$1 line=
  "$target/debug/twilio-emulator" serve --listen 127.0.0.1:0 --account-sid "$account_sid" \
    --auth-token "$auth_token" --target "$server_url" --clock scaled:5 \
    >"$work/emulator.log" 2>&1 &
  emulator_pid=$!
  for _ in $(seq 1 100); do
    line=$(head -n 1 "$work/emulator.log" 2>/dev/null || true)
    case $line in "listening on "*) break ;; esac
    kill -0 "$emulator_pid" 2>/dev/null || { show_log "$work/emulator.log"; exit 1; }
    sleep 0.1
  done
  case $line in "listening on "*) ;; *) say "the emulator did not start"; show_log "$work/emulator.log"; exit 1 ;; esac
  emulator_url=${line#listening on }
}

start_server() {
  local port=$1
  # Signatures are checked for real: the emulator signs with the same token.
  SWITCHBOARD_LISTEN_ADDR=127.0.0.1:$port PUBLIC_BASE_URL=http://127.0.0.1:$port \
    TWILIO_ACCOUNT_SID=$account_sid TWILIO_AUTH_TOKEN=$auth_token TWILIO_API_BASE=$emulator_url \
    SWITCHBOARD_LOG_FORMAT=pretty SWITCHBOARD_SERVER__DRAIN_DELAY_SECS=0 \
    SWITCHBOARD_OUTBOX__POLL_INTERVAL_MS=200 SWITCHBOARD_EFFECTS__CALLS_PER_SECOND=20 \
    SWITCHBOARD_MEDIA__LINK_SECRET=demo-link-secret-0123456789abcdef0123 \
    "$target/debug/switchboard" serve --migrate >"$work/server.log" 2>&1 &
  server_pid=$!
}

# Bounded wait for /ready, giving up early if the server exited.
wait_ready() {
  local url=$1 deadline=$((SECONDS + ready_secs))
  say "waiting up to ${ready_secs}s for $url"
  until "$target/debug/switchboard" healthcheck "$url" 2>/dev/null; do
    if ! kill -0 "$server_pid" 2>/dev/null; then say "the server exited"; show_log "$work/server.log"; exit 1; fi
    if [ "$SECONDS" -ge "$deadline" ]; then say "not ready after ${ready_secs}s"; show_log "$work/server.log"; exit 1; fi
    sleep 0.2
  done
}

# Both still running? (A scenario would otherwise wait for a server that has gone.)
alive() {
  kill -0 "$server_pid" 2>/dev/null || { say "the server has exited"; return 1; }
  kill -0 "$emulator_pid" 2>/dev/null || { say "the emulator has exited"; show_log "$work/emulator.log"; return 1; }
}

# The database, the build, the emulator and the server, ready.
stack_up() {
  start_database
  build
  local port
  port=$(free_port)
  server_url=http://127.0.0.1:$port
  start_emulator "$server_url"
  start_server "$port"
  wait_ready "$server_url/ready"
  say "server on $server_url, emulator on $emulator_url"
}

# `switchboard keys create ARGS…` against the stack's database; prints the token alone.
stack_key() {
  "$target/debug/switchboard" keys create "$@" 2>/dev/null | tail -n 1
}

# Saves GET /api/openapi.json to FILE, with PYTHON (no curl needed).
fetch_document() {
  "$1" -c 'import sys, urllib.request; open(sys.argv[2], "wb").write(urllib.request.urlopen(sys.argv[1]).read())' \
    "$server_url/api/openapi.json" "$2"
}

# shellcheck shell=bash
# Helpers shared by the scripts in scripts/testenv (sourced, not executed).
# Everything here logs to stderr: stdout is reserved for each script's result.

TESTENV_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export TESTENV_DIR

# Root of the running environment's state (pid files, logs, certificates).
export TESTENV_STATE=${MONOSHIP_TESTENV_STATE:-${TMPDIR:-/tmp}/monoship-testenv}

# lock NAME: hold an exclusive lock for the rest of this process, so that
# concurrent runs on the same state dir take turns. Lock files live beside
# the state dir (never inside it: `down` removes that).
lock() {
  local file="${TESTENV_STATE%/}.$1.lock"
  mkdir -p "$(dirname "$file")"
  exec 8>"$file"
  if ! flock -n 8; then
    log "waiting for another scripts/testenv run on $TESTENV_STATE ($1)"
    flock 8
  fi
}

log() { printf '[testenv] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# ensure_cmds CMD[:DEBIAN_PACKAGE]... installs the Debian package of every
# command that is missing (apt-get update once, then apt-get install -y).
ensure_cmds() {
  local spec cmd pkg missing=()
  for spec in "$@"; do
    cmd=${spec%%:*}
    pkg=${spec#*:}
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them"
  log "installing ${missing[*]} with apt-get"
  local sudo=()
  [[ $(id -u) == 0 ]] || sudo=(sudo)
  local aptlog
  aptlog=$(mktemp)
  if [[ -z ${TESTENV_APT_UPDATED:-} ]]; then
    if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get update >"$aptlog" 2>&1; then
      tail -n 20 "$aptlog" >&2
      rm -f "$aptlog"
      die "apt-get update failed"
    fi
    TESTENV_APT_UPDATED=1
  fi
  # policy-rc.d 101 keeps packages that ship a service (etcd, registries) from
  # starting it on install; the test environment starts its own instances.
  local policy=/usr/sbin/policy-rc.d created_policy=
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    created_policy=1
  fi
  local rc=0
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" \
    >"$aptlog" 2>&1 || rc=$?
  [[ -z $created_policy ]] || "${sudo[@]}" rm -f "$policy"
  if ((rc != 0)); then
    tail -n 30 "$aptlog" >&2
    rm -f "$aptlog"
    die "apt-get install ${missing[*]} failed"
  fi
  rm -f "$aptlog"
}

# Ports handed out by free_port in this process, so two calls never collide
# before the first port is bound.
TESTENV_PORTS_TAKEN=" "

# free_port prints a TCP port on which nothing listens (IPv4 or IPv6).
free_port() {
  local listening=" " port i _sl addr _rem st _rest
  while read -r _sl addr _rem st _rest; do
    [[ $st == 0A ]] && listening+="$((16#${addr##*:})) "
  done < <(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null)
  for ((i = 0; i < 200; i++)); do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 30000))
    [[ $listening == *" $port "* || $TESTENV_PORTS_TAKEN == *" $port "* ]] && continue
    TESTENV_PORTS_TAKEN+="$port "
    echo "$port"
    return 0
  done
  die "found no free TCP port"
}

# start_bg NAME STATE_DIR CMD... runs CMD detached in its own session, output
# in STATE_DIR/NAME.log, pid in STATE_DIR/NAME.pid.
start_bg() {
  local name=$1 dir=$2
  shift 2
  # 8>&- 9>&-: the daemon must not inherit (and so keep holding) our locks.
  setsid "$@" </dev/null >"$dir/$name.log" 2>&1 8>&- 9>&- &
  echo $! >"$dir/$name.pid"
}

# proc_ours PID DIR: PID is a live (not zombie) process whose command line
# mentions DIR, i.e. one that a script here started for that state dir (and
# not an unrelated process that reused the pid).
proc_ours() {
  local pid=$1 dir=$2 stat cmdline
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]] || return 1
  cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $cmdline == *"$dir"* ]]
}

# pid_alive PIDFILE: the process recorded in PIDFILE still runs.
pid_alive() {
  [[ -f $1 ]] || return 1
  proc_ours "$(<"$1")" "$(dirname "$1")"
}

# stop_pidfile PIDFILE [TIMEOUT_S]: TERM the recorded process, KILL it after
# the timeout, then remove the pid file.
stop_pidfile() {
  local file=$1 timeout=${2:-15} dir pid i
  [[ -f $file ]] || return 0
  pid=$(<"$file")
  dir=$(dirname "$file")
  if proc_ours "$pid" "$dir"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 20; i++)); do
      proc_ours "$pid" "$dir" || break
      sleep 0.05
    done
    if proc_ours "$pid" "$dir"; then
      log "$(basename "$file" .pid) (pid $pid) did not stop after ${timeout}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 100; i++)); do
        proc_ours "$pid" "$dir" || break
        sleep 0.05
      done
    fi
  fi
  rm -f "$file"
}

# wait_until TIMEOUT_S DESCRIPTION CMD...: retry CMD (quietly) every 0.25 s.
wait_until() {
  local timeout=$1 what=$2 deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    sleep 0.25
  done
}

# print_log_tails DIR: the last lines of every log in DIR, to stderr.
print_log_tails() {
  local f
  for f in "$1"/*.log; do
    [[ -f $f ]] || continue
    printf '\n----- last 40 lines of %s -----\n' "$f" >&2
    tail -n 40 "$f" >&2
  done
}

random_secret() {
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n'
}

# shellcheck shell=bash disable=SC2034  # the variables are used by the scripts that source this
# Shared helpers for deployments/local/{up,down,status}. Sourced, never run.
#
# Everything lives under <repo>/.data (gitignored) so two clones never share
# state; only the downloaded Kafka jars live outside, in a cache keyed by the
# Kafka version, so every clone on the machine reuses them. RENDERD_DATA_DIR
# puts a second stack of the same clone elsewhere (make chaos runs its own,
# in .data/chaos, on its own ports, because it kills and restarts it).

# Under `set -e` an unexpected failure ends a script without a word; name the
# command and line instead (errtrace: also inside functions).
set -o errtrace
trap 'printf "ERROR: unexpected failure (exit %s) at %s line %s: %s\n" "$?" "$(basename "$0")" "$LINENO" "$BASH_COMMAND" >&2' ERR

# --- Layout ------------------------------------------------------------------

# Physical paths (pwd -P): the same clone always yields the same strings,
# which the process checks below compare against /proc/<pid>/cmdline.
LOCAL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd "$LOCAL_DIR/../.." && pwd -P)

if [[ -n ${RENDERD_DATA_DIR:-} ]]; then
	# Physical and absolute, like REPO_ROOT (the process checks compare it).
	DATA_DIR=$(mkdir -p "$RENDERD_DATA_DIR" && cd "$RENDERD_DATA_DIR" && pwd -P)
else
	DATA_DIR=$REPO_ROOT/.data
fi
RUN_DIR=$DATA_DIR/run
LOG_DIR=$DATA_DIR/logs
STACK_ENV=$DATA_DIR/stack.env

PG_DATA=$DATA_DIR/pg
PG_SOCK_DIR=$DATA_DIR/sock # unix socket; path must stay < 108 bytes
PG_LOG=$LOG_DIR/postgres.log
PG_CONF_NAME=renderd.conf # generated on every start, included by postgresql.conf

KAFKA_DIR=$DATA_DIR/kafka
KAFKA_LOG_DIRS=$KAFKA_DIR/data # Kafka's own "log" = the partition data
KAFKA_CONFIG=$KAFKA_DIR/server.properties
KAFKA_LOG4J=$KAFKA_DIR/log4j2.properties
KAFKA_PID_FILE=$RUN_DIR/kafka.pid
KAFKA_LOG=$LOG_DIR/kafka.log

KAFKA_POM=$LOCAL_DIR/kafka/pom.xml
# The pom is the single place where the Kafka version is pinned.
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM")
CACHE_DIR=${RENDERD_CACHE_DIR:-$HOME/.cache/renderd}
KAFKA_HOME=$CACHE_DIR/kafka-$KAFKA_VERSION
KAFKA_LIBS=$KAFKA_HOME/libs
KAFKA_JARS_MARKER=$KAFKA_HOME/.complete # holds the pom's checksum

# Wanted ports. A running service keeps the port it was started with; the
# ports it really uses are read back from its generated config.
PG_PORT=${RENDERD_PG_PORT:-54329}
KAFKA_PORT=${RENDERD_KAFKA_PORT:-59092}
KAFKA_CONTROLLER_PORT=${RENDERD_KAFKA_CONTROLLER_PORT:-59093}

# The system user that runs Postgres when we are root (Postgres refuses root).
PG_OS_USER=postgres

# --- Output ------------------------------------------------------------------

say() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
	printf 'ERROR: %s\n' "$*" >&2
	exit 1
}

# Path relative to the repo root, for shorter messages.
rel() { printf '%s\n' "${1#"$REPO_ROOT"/}"; }

# Prints the last lines of a log file after a failure.
show_log_tail() {
	local file=$1 n=${2:-30}
	[[ -f $file ]] || return 0
	printf -- '----- last %s lines of %s -----\n' "$n" "$(rel "$file")" >&2
	tail -n "$n" "$file" >&2
	printf -- '-----\n' >&2
}

is_root() { [[ $EUID -eq 0 ]]; }

# --- Small utilities ---------------------------------------------------------

# True when something accepts TCP connections on 127.0.0.1:$1.
port_in_use() {
	timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# Names the process listening on a port, when `ss` is there to tell us.
# Never fails: it only decorates an error message.
port_owner() {
	command -v ss >/dev/null || return 0
	ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:(([^)]*))' | head -n1 || true
}

# True when the port stays taken for a few seconds: a service stopped a
# moment ago (down, a crash) may still be releasing its sockets.
port_taken() {
	local i
	for ((i = 0; i < 10; i++)); do
		port_in_use "$1" || return 1
		sleep 0.5
	done
}

die_port_taken() {
	local what=$1 port=$2 var=$3 owner
	owner=$(port_owner "$port")
	die "port $port on 127.0.0.1 (wanted by $what) is already in use by another process${owner:+ ($owner)}, not by this repo's stack. Stop it, or pick another port: $var=<port> $(rel "$LOCAL_DIR")/up"
}

# Prints the first line of a file; fails quietly when it is missing. Never use
# $(<file) in these scripts: under `set -e` bash 5.2 exits the whole script
# when that file is gone, even inside `|| ...` (a race with dying processes).
first_line() {
	local line=""
	{ IFS= read -r line <"$1"; } 2>/dev/null || [[ -n $line ]] || return 1
	printf '%s\n' "$line"
}

# True when pid $1 is a live process. A zombie is not: it is dead, merely not
# yet reaped (a killed daemon whose parent is gone can stay one for a while).
pid_alive() {
	local stat
	[[ $1 =~ ^[0-9]+$ ]] || return 1
	{ IFS= read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	stat=${stat##*) } # the state letter follows the "(comm) " field
	[[ ${stat%% *} != [ZX] ]]
}

# True when pid $1 is alive and its command line contains every further arg.
# Guards against pid reuse: a stale pid file may point at an unrelated process.
pid_matches() {
	local pid=$1 cmdline
	shift
	pid_alive "$pid" || return 1
	cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
	local needle
	for needle in "$@"; do
		[[ $cmdline == *"$needle"* ]] || return 1
	done
}

# Reads "key = value" / "key=value" from a config file (last one wins).
conf_get() {
	local file=$1 key=$2
	[[ -f $file ]] || return 0
	sed -n "s/^[[:space:]]*${key}[[:space:]]*=[[:space:]]*//p" "$file" | tail -n1 | tr -d "'"
}

# --- Java ----------------------------------------------------------------------

java_major() {
	"$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p'
}

# Prints a java binary of version 17 or newer (Kafka 4 needs it), or nothing.
find_java() {
	local candidate major
	for candidate in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} "$(command -v java || true)" /usr/lib/jvm/*/bin/java; do
		[[ -n $candidate && -x $candidate ]] || continue
		major=$(java_major "$candidate" || true)
		if [[ $major =~ ^[0-9]+$ ]] && ((major >= 17)); then
			printf '%s\n' "$candidate"
			return 0
		fi
	done
	return 1
}

# --- Postgres ----------------------------------------------------------------

# Prints the directory holding initdb/pg_ctl/postgres, or nothing.
# An existing cluster must be run by the major version that created it.
find_pg_bindir() {
	local dir
	if [[ -f $PG_DATA/PG_VERSION ]]; then
		dir=/usr/lib/postgresql/$(first_line "$PG_DATA/PG_VERSION")/bin
		[[ -x $dir/pg_ctl ]] && printf '%s\n' "$dir"
		return 0
	fi
	if command -v pg_config >/dev/null; then
		dir=$(pg_config --bindir 2>/dev/null || true)
		if [[ -n $dir && -x $dir/initdb && -x $dir/pg_ctl ]]; then
			printf '%s\n' "$dir"
			return 0
		fi
	fi
	# Highest installed major version.
	dir=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null |
		sort -V | tail -n1)
	[[ -n $dir ]] && dirname "$dir"
	return 0
}

# Runs a command as the Postgres OS user: ourselves, or `postgres` when root.
# `cd /` because the postgres user may not be allowed into the caller's cwd.
as_pg() {
	if is_root; then
		(cd / && runuser -u "$PG_OS_USER" -- "$@")
	else
		"$@"
	fi
}

# Prints the postmaster pid when this repo's Postgres runs, else fails.
# The pid must be a live process whose command line names our data dir: after
# a crash and a reboot the pid in postmaster.pid may belong to anything.
pg_pid() {
	local pid
	[[ -f $PG_DATA/postmaster.pid ]] || return 1
	pid=$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null) || return 1
	pid_matches "$pid" postgres "-D $PG_DATA" || return 1
	printf '%s\n' "$pid"
}

pg_running() { pg_pid >/dev/null; }

# The port the cluster was last started with (the generated config).
pg_actual_port() {
	local port
	port=$(conf_get "$PG_DATA/$PG_CONF_NAME" port)
	printf '%s\n' "${port:-$PG_PORT}"
}

# psql as the cluster's superuser over the private unix socket.
pg_admin_psql() {
	as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK_DIR" -p "$(pg_actual_port)" -d postgres "$@"
}

# --- Kafka -------------------------------------------------------------------

# Prints the Kafka pid when this repo's broker runs, else fails. Trusts the
# pid file only when the process really is our broker; if the pid file was
# lost, finds the broker by its command line (it names our config file).
kafka_pid() {
	local pid file
	if pid=$(first_line "$KAFKA_PID_FILE") && pid_matches "$pid" "kafka.Kafka $KAFKA_CONFIG"; then
		printf '%s\n' "$pid"
		return 0
	fi
	# One grep over all command lines (-s: processes may vanish meanwhile),
	# then the exact check on the few candidates.
	while IFS= read -r file; do
		pid=${file#/proc/}
		pid=${pid%/cmdline}
		if pid_matches "$pid" "kafka.Kafka $KAFKA_CONFIG"; then
			printf '%s\n' "$pid"
			return 0
		fi
	done < <(grep -lsaF -- "$KAFKA_CONFIG" /proc/[0-9]*/cmdline || true)
	return 1
}

kafka_running() { kafka_pid >/dev/null; }

# The client port the broker was last started with.
kafka_actual_port() {
	local listeners
	listeners=$(conf_get "$KAFKA_CONFIG" listeners)
	if [[ $listeners =~ PLAINTEXT://[^,]*:([0-9]+) ]]; then
		printf '%s\n' "${BASH_REMATCH[1]}"
	else
		printf '%s\n' "$KAFKA_PORT"
	fi
}

kafka_actual_controller_port() {
	local listeners
	listeners=$(conf_get "$KAFKA_CONFIG" listeners)
	if [[ $listeners =~ CONTROLLER://[^,]*:([0-9]+) ]]; then
		printf '%s\n' "${BASH_REMATCH[1]}"
	else
		printf '%s\n' "$KAFKA_CONTROLLER_PORT"
	fi
}

# True when the broker answers a real metadata request and lists itself.
# (Output captured first: `kcat | grep -q` would fail under pipefail when grep
# quits early and kcat dies of SIGPIPE on a long topic list.)
kafka_answers() {
	local port=${1:-$(kafka_actual_port)} out
	command -v kcat >/dev/null || return 1
	out=$(kcat -L -b "127.0.0.1:$port" -m 3 2>/dev/null) || return 1
	[[ $out == *"broker 1 at 127.0.0.1:$port"* ]]
}

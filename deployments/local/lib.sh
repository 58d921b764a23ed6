# shellcheck shell=bash disable=SC2034  # the variables are used by the scripts that source this
# Shared helpers for deployments/local/{up,down,status}. Sourced, never run.
#
# Everything lives under <repo>/.data (gitignored) so two clones never share
# state; only the downloaded Kafka jars and the built SeaweedFS binary live
# outside, in a cache keyed by their versions, so every clone on the machine
# reuses them. RENDERD_DATA_DIR puts a second stack of the same clone
# elsewhere (make chaos runs its own, in .data/chaos, on its own ports,
# because it kills and restarts it).

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
# Node 1's files; node n of a cluster (RENDERD_KAFKA_NODES=3) has its own,
# suffixed -n (kafka_config and friends below).
KAFKA_LOG_DIRS=$KAFKA_DIR/data # Kafka's own "log" = the partition data
KAFKA_CONFIG=$KAFKA_DIR/server.properties
KAFKA_LOG4J=$KAFKA_DIR/log4j2.properties
KAFKA_PID_FILE=$RUN_DIR/kafka.pid
KAFKA_LOG=$LOG_DIR/kafka.log
# How many nodes the cluster's storage was formatted for: a KRaft quorum's
# voters are fixed at format time, so a stack keeps its size until purged.
KAFKA_NODES_FILE=$KAFKA_DIR/nodes

KAFKA_POM=$LOCAL_DIR/kafka/pom.xml
# The pom is the single place where the Kafka version is pinned.
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM")
CACHE_DIR=${RENDERD_CACHE_DIR:-$HOME/.cache/renderd}
KAFKA_HOME=$CACHE_DIR/kafka-$KAFKA_VERSION
KAFKA_LIBS=$KAFKA_HOME/libs
KAFKA_JARS_MARKER=$KAFKA_HOME/.complete # holds the pom's checksum

# SeaweedFS, the local stack's S3 server (RENDERD_LOCAL_S3=1, and make test).
# Its weed binary is built from the Go module once per version (go install
# refuses the module: its go.mod has replace directives) and cached; the
# binary appears in the cache only when its build succeeded.
WEED_MODULE=github.com/seaweedfs/seaweedfs
WEED_VERSION=v0.0.0-20261109003541-7506e5f91cd6
WEED_HOME=$CACHE_DIR/seaweedfs-$WEED_VERSION
WEED_BIN=$WEED_HOME/weed
WEED_DIR=$DATA_DIR/s3 # the server's data, its S3 identities and its port file
WEED_S3_CONFIG=$WEED_DIR/s3.json
WEED_PORTS_FILE=$WEED_DIR/ports # the ports it was last started with
WEED_PID_FILE=$RUN_DIR/s3.pid
WEED_LOG=$LOG_DIR/s3.log
# The local stack's S3 identity and bucket: development values, like the
# Postgres role's password, reachable on 127.0.0.1 only.
S3_BUCKET=renderd
S3_ACCESS_KEY=renderd
S3_SECRET_KEY=renderd-local-secret
S3_REGION=us-east-1

# Wanted ports. A running service keeps the port it was started with; the
# ports it really uses are read back from its generated config.
PG_PORT=${RENDERD_PG_PORT:-54329}
KAFKA_PORT=${RENDERD_KAFKA_PORT:-59092}
KAFKA_CONTROLLER_PORT=${RENDERD_KAFKA_CONTROLLER_PORT:-59093}
# SeaweedFS: the S3 API, then its master, volume and filer servers; each
# one's gRPC port is its port + 1 (weed's own default, port + 10000, passes
# 65535 for ports above 55535). Below Linux's ephemeral range (32768-60999):
# weed's parts connect to each other while it starts, and such an outgoing
# connection can take a port of the range that a later part has yet to bind.
S3_PORT=${RENDERD_S3_PORT:-27333}
WEED_MASTER_PORT=${RENDERD_WEED_MASTER_PORT:-$((S3_PORT + 2))}
WEED_VOLUME_PORT=${RENDERD_WEED_VOLUME_PORT:-$((S3_PORT + 4))}
WEED_FILER_PORT=${RENDERD_WEED_FILER_PORT:-$((S3_PORT + 6))}

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

# The files of node $1 (default 1). Node 1 keeps the single node's names, so
# a one-node stack looks as it always did.
kafka_sfx() { [[ ${1:-1} == 1 ]] || printf -- '-%s' "$1"; }
kafka_config() { printf '%s\n' "$KAFKA_DIR/server$(kafka_sfx "${1:-1}").properties"; }
kafka_log_dirs() { printf '%s\n' "$KAFKA_DIR/data$(kafka_sfx "${1:-1}")"; }
kafka_pid_file() { printf '%s\n' "$RUN_DIR/kafka$(kafka_sfx "${1:-1}").pid"; }
kafka_log() { printf '%s\n' "$LOG_DIR/kafka$(kafka_sfx "${1:-1}").log"; }

# The ports node $1 wants: node n listens on RENDERD_KAFKA_PORT + 2(n-1)
# and RENDERD_KAFKA_CONTROLLER_PORT + 2(n-1) (59092/59093, 59094/59095,
# 59096/59097 by default).
kafka_wanted_port() { printf '%s\n' "$((KAFKA_PORT + 2 * (${1:-1} - 1)))"; }
kafka_wanted_controller_port() { printf '%s\n' "$((KAFKA_CONTROLLER_PORT + 2 * (${1:-1} - 1)))"; }

# How many nodes this stack's Kafka has: what its storage was formatted for
# (a stack made before clusters holds one), else RENDERD_KAFKA_NODES (1).
kafka_nodes() {
	local n
	if n=$(first_line "$KAFKA_NODES_FILE") && [[ $n =~ ^[0-9]+$ ]]; then
		printf '%s\n' "$n"
	elif [[ -f $KAFKA_LOG_DIRS/meta.properties ]]; then
		printf '1\n'
	else
		printf '%s\n' "${RENDERD_KAFKA_NODES:-1}"
	fi
}

# Prints the pid of node $1 (default 1) when it runs, else fails. Trusts the
# pid file only when the process really is that node; if the pid file was
# lost, finds the node by its command line (it names the node's config file).
kafka_pid() {
	local pid file config pid_file
	config=$(kafka_config "${1:-1}")
	pid_file=$(kafka_pid_file "${1:-1}")
	if pid=$(first_line "$pid_file") && pid_matches "$pid" "kafka.Kafka $config"; then
		printf '%s\n' "$pid"
		return 0
	fi
	# One grep over all command lines (-s: processes may vanish meanwhile),
	# then the exact check on the few candidates.
	while IFS= read -r file; do
		pid=${file#/proc/}
		pid=${pid%/cmdline}
		if pid_matches "$pid" "kafka.Kafka $config"; then
			printf '%s\n' "$pid"
			return 0
		fi
	done < <(grep -lsaF -- "$config" /proc/[0-9]*/cmdline || true)
	return 1
}

kafka_running() { kafka_pid "${1:-1}" >/dev/null; }

# The client port node $1 was last started with.
kafka_actual_port() {
	local listeners n=${1:-1}
	listeners=$(conf_get "$(kafka_config "$n")" listeners)
	if [[ $listeners =~ PLAINTEXT://[^,]*:([0-9]+) ]]; then
		printf '%s\n' "${BASH_REMATCH[1]}"
	else
		kafka_wanted_port "$n"
	fi
}

kafka_actual_controller_port() {
	local listeners n=${1:-1}
	listeners=$(conf_get "$(kafka_config "$n")" listeners)
	if [[ $listeners =~ CONTROLLER://[^,]*:([0-9]+) ]]; then
		printf '%s\n' "${BASH_REMATCH[1]}"
	else
		kafka_wanted_controller_port "$n"
	fi
}

# Every node's client address, comma-separated: KAFKA_BROKERS.
kafka_brokers() {
	local n nodes out=""
	nodes=$(kafka_nodes)
	for ((n = 1; n <= nodes; n++)); do
		out+=${out:+,}127.0.0.1:$(kafka_actual_port "$n")
	done
	printf '%s\n' "$out"
}

# True when node $2 (default 1) answers a real metadata request on port $1
# and lists itself: it has registered with the quorum and is unfenced.
# (Output captured first: `kcat | grep -q` would fail under pipefail when grep
# quits early and kcat dies of SIGPIPE on a long topic list.)
kafka_answers() {
	local n=${2:-1} port out
	port=${1:-$(kafka_actual_port "$n")}
	command -v kcat >/dev/null || return 1
	out=$(kcat -L -b "127.0.0.1:$port" -m 3 2>/dev/null) || return 1
	[[ $out == *"broker $n at 127.0.0.1:$port"* ]]
}

# --- SeaweedFS (S3) ------------------------------------------------------------

# Prints the pid of this stack's weed server when it runs, else fails. Its
# command line names this stack's S3 config file.
weed_pid() {
	local pid file
	if pid=$(first_line "$WEED_PID_FILE") && pid_matches "$pid" "weed" "-s3.config=$WEED_S3_CONFIG"; then
		printf '%s\n' "$pid"
		return 0
	fi
	while IFS= read -r file; do
		pid=${file#/proc/}
		pid=${pid%/cmdline}
		if pid_matches "$pid" "weed" "-s3.config=$WEED_S3_CONFIG"; then
			printf '%s\n' "$pid"
			return 0
		fi
	done < <(grep -lsaF -- "$WEED_S3_CONFIG" /proc/[0-9]*/cmdline || true)
	return 1
}

weed_running() { weed_pid >/dev/null; }

# The port ($1: s3, master, volume or filer) the server was last started
# with, else the one wanted.
weed_actual_port() {
	local port=""
	[[ -f $WEED_PORTS_FILE ]] && port=$(sed -n "s/^$1=//p" "$WEED_PORTS_FILE" | tail -n1)
	if [[ -z $port ]]; then
		case $1 in
		s3) port=$S3_PORT ;;
		master) port=$WEED_MASTER_PORT ;;
		volume) port=$WEED_VOLUME_PORT ;;
		filer) port=$WEED_FILER_PORT ;;
		esac
	fi
	printf '%s\n' "$port"
}

# True when the S3 API answers a signed request for the bucket (HEAD: 200
# once it exists, 404 before). $1: the status codes that count (default 200).
s3_answers() {
	local want=${1:-200} code
	code=$(curl -s -o /dev/null -w '%{http_code}' -m 3 -I \
		--aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
		"http://127.0.0.1:$(weed_actual_port s3)/$S3_BUCKET" 2>/dev/null) || true
	[[ " $want " == *" $code "* ]]
}

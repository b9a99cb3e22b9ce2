#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, with accounting, for trying `--backend submitit`
# and for the tests marked `slurm`.
#
#   scripts/slurm-local.sh start   install (Debian packages) if needed, configure, start, wait until idle
#   scripts/slurm-local.sh stop    cancel its jobs, stop the daemons it started (by pid)
#   scripts/slurm-local.sh status  the daemons and the node
#
# Runs as root, without systemd or cgroups: proctrack/linuxproc and task/none need neither.
# Accounting is real: MariaDB behind slurmdbd, because submitit reads job states through `sacct`, and
# without it a job that dies without writing its result would leave the runner waiting for it.
# Everything it makes (database, spool, logs, pids) lives under $SLURM_LOCAL_STATE; the only files
# outside are /etc/slurm/slurm.conf and slurmdbd.conf, which it refuses to overwrite unless it wrote them.
set -euo pipefail

STATE="${SLURM_LOCAL_STATE:-/var/lib/slurm-local}"
DB_PORT="${SLURM_LOCAL_DB_PORT:-3306}"
CLUSTER=local
MARK="# written by mainrun scripts/slurm-local.sh"
PIDS="$STATE/pids"
LOGS="$STATE/log"
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)  # start order; stop goes backwards

say() { echo "slurm-local: $*" >&2; }
die() { say "$*"; exit 1; }

alive() {  # alive NAME: the daemon this script started is running
    local pid
    pid="$(cat "$PIDS/$1.pid" 2>/dev/null)" || return 1
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

wait_for() {  # wait_for SECONDS DAEMON WHAT COMMAND...: poll until COMMAND succeeds, while DAEMON lives
    local seconds="$1" daemon="$2" what="$3"
    shift 3
    for ((i = 0; i < seconds * 2; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        alive "$daemon" || die "$daemon exited; the end of $LOGS/$daemon.log: $(tail -3 "$LOGS/$daemon.log" | tr '\n' ' ')"
        sleep 0.5
    done
    die "$what not ready after ${seconds}s; logs in $LOGS"
}

launch() {  # launch NAME COMMAND...: start a foreground daemon in its own session, remember its pid
    local name="$1"
    shift
    # setsid execs in place (the background child is no group leader), so $! is the daemon itself,
    # and its own session keeps it out of the caller's Ctrl-C and job control.
    setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
    echo $! >"$PIDS/$name.pid"
}

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurm-wlm)
    command -v munged >/dev/null || missing+=(munge)
    command -v slurmdbd >/dev/null || missing+=(slurmdbd)
    command -v mariadbd >/dev/null || missing+=(mariadb-server)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    say "installing ${missing[*]}"
    # The packages' own init scripts would start daemons with their own configuration; keep them off.
    local policy=/usr/sbin/policy-rc.d made_policy=""
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    fi
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}") >"$STATE/apt.log" 2>&1 || { [[ -n "$made_policy" ]] && rm -f "$policy"; \
        die "apt-get install ${missing[*]} failed; see $STATE/apt.log"; }
    [[ -n "$made_policy" ]] && rm -f "$policy"
    return 0
}

write_config() {  # write_config PATH MODE: stdin to PATH, unless PATH is someone else's configuration
    local path="$1" mode="$2"
    if [[ -e "$path" ]] && ! grep -qF "$MARK" "$path"; then
        die "$path exists and was not written by this script; refusing to replace a real cluster's configuration"
    fi
    mkdir -p "$(dirname "$path")"
    { echo "$MARK"; cat; } >"$path.tmp"
    chmod "$mode" "$path.tmp"
    mv "$path.tmp" "$path"
}

configure() {
    local host cpus memory password
    host="$(hostname -s)"
    cpus="$(nproc)"
    # At or below what slurmd itself measures, or the node registers as invalid and never goes idle.
    memory="$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -1)"
    [[ -n "$memory" ]] || die "slurmd -C did not report this node's memory"
    password="$(cat "$STATE/db.password" 2>/dev/null || true)"
    if [[ -z "$password" ]]; then
        password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
        (umask 077 && echo "$password" >"$STATE/db.password")
    fi
    write_config /etc/slurm/slurm.conf 644 <<EOF
ClusterName=$CLUSTER
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pidfile
SlurmdPidFile=$STATE/slurmd.pidfile
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
# A cancelled or timed-out job is killed within seconds, not the default 30, so tests stay short.
KillWait=5
OverTimeLimit=0
MinJobAge=300
InactiveLimit=0
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    write_config /etc/slurm/slurmdbd.conf 600 <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
LogFile=$LOGS/slurmdbd.log
PidFile=$STATE/slurmdbd.pidfile
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$password
StorageLoc=slurm_acct_db
EOF
}

start_munge() {
    alive munged && return 0
    [[ -s /etc/munge/munge.key ]] || { mungekey --create --keyfile=/etc/munge/munge.key; chown munge: /etc/munge/munge.key; }
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge: /run/munge /var/lib/munge /var/log/munge
    chmod 0755 /run/munge
    launch munged setpriv --reuid=munge --regid=munge --init-groups munged --foreground
    wait_for 20 munged munged bash -c 'munge -n | unmunge'
}

start_mariadb() {
    alive mariadbd && return 0
    local data="$STATE/mysql" socket="$STATE/mysqld/mysqld.sock"
    mkdir -p "$STATE/mysqld" && chown mysql: "$STATE/mysqld"  # mariadbd, as mysql, makes its socket here
    if [[ ! -d "$data/mysql" ]]; then
        mkdir -p "$data" && chown mysql: "$data"
        mariadb-install-db --no-defaults --user=mysql --datadir="$data" --skip-test-db >"$LOGS/mariadb-install.log" 2>&1 \
            || die "mariadb-install-db failed; see $LOGS/mariadb-install.log"
    fi
    launch mariadbd mariadbd --no-defaults --user=mysql --datadir="$data" --socket="$socket" \
        --pid-file="$STATE/mysqld/mariadbd.pidfile" --bind-address=127.0.0.1 --port="$DB_PORT" --skip-log-bin
    wait_for 60 mariadbd mariadbd mariadb-admin --no-defaults --socket="$socket" ping
    local password
    password="$(cat "$STATE/db.password")"
    mariadb --no-defaults --socket="$socket" -u root <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$password';
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
EOF
}

start_slurm() {
    mkdir -p /run/slurm "$STATE/ctld" "$STATE/slurmd"
    if ! alive slurmdbd; then
        launch slurmdbd slurmdbd -D
        wait_for 60 slurmdbd slurmdbd sacctmgr -n show cluster
    fi
    # Registered before slurmctld starts, so that its first contact with slurmdbd finds the cluster.
    if ! sacctmgr -n -P show cluster format=cluster | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null
    fi
    alive slurmctld || launch slurmctld slurmctld -D
    wait_for 60 slurmctld slurmctld scontrol ping
    alive slurmd || launch slurmd slurmd -D
    wait_for 60 slurmd "the node (idle in sinfo)" bash -c '[[ "$(sinfo -h -N -o %t)" == idle* ]]'
    wait_for 60 slurmdbd sacct sacct -n -X --starttime=now
}

start() {
    [[ $EUID -eq 0 ]] || die "needs root (it installs packages and starts daemons)"
    mkdir -p "$STATE" "$PIDS" "$LOGS"
    install_packages
    configure
    start_munge
    start_mariadb
    start_slurm
    say "up: $(sinfo -h -N -o '%N %t, %c CPUs, %m MB') (cluster $CLUSTER, logs in $LOGS)"
}

stop() {
    if [[ -e /etc/slurm/slurm.conf ]] && grep -qF "$MARK" /etc/slurm/slurm.conf && alive slurmctld; then
        # Its own cluster: no job outlives it (their processes belong to slurmstepd, not to slurmd).
        scancel --full --cluster="$CLUSTER" --user="$(id -un)" 2>/dev/null || true
        for ((i = 0; i < 40; i++)); do
            [[ -z "$(squeue -h -o %i 2>/dev/null)" ]] && break
            sleep 0.5
        done
    fi
    for ((d = ${#DAEMONS[@]} - 1; d >= 0; d--)); do
        local name="${DAEMONS[d]}" pid
        alive "$name" || { rm -f "$PIDS/$name.pid"; continue; }
        pid="$(cat "$PIDS/$name.pid")"
        kill -TERM "$pid"
        for ((i = 0; i < 40 && $(kill -0 "$pid" 2>/dev/null && echo 1 || echo 0); i++)); do sleep 0.25; done
        kill -0 "$pid" 2>/dev/null && { say "$name (pid $pid) ignored SIGTERM; killing it"; kill -KILL "$pid" || true; }
        rm -f "$PIDS/$name.pid"
        say "stopped $name (pid $pid)"
    done
}

status() {
    for name in "${DAEMONS[@]}"; do
        if alive "$name"; then echo "$name: running (pid $(cat "$PIDS/$name.pid"))"; else echo "$name: not running"; fi
    done
    sinfo 2>&1 || true
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac

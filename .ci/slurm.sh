#!/usr/bin/env bash
# A one-node Slurm cluster for the tests (tests/slurm.rs), in a temporary directory:
#   eval "$(.ci/slurm.sh start)"    # starts munged, slurmctld and slurmd; prints the exports to use it
#   .ci/slurm.sh stop DIR           # stops them by their pids (DIR: $PATHPROX_SLURM_DIR)
# Needs Debian's slurm-wlm and munge (apt-get install slurm-wlm munge) and root (slurmd runs jobs as
# their users). The node is 127.0.0.1 with 2 CPUs, one partition, no accounting; the state, spool, logs,
# munge key and socket all live in the temporary directory, and nothing outside it is touched.
set -euo pipefail

start() {
  local d
  d="$(mktemp -d /tmp/pathprox-slurm.XXXXXX)"
  chmod 700 "$d"
  mkdir -p "$d/state" "$d/spool" "$d/munge"
  chmod 700 "$d/munge"
  # A fresh key for this cluster only.
  dd if=/dev/urandom of="$d/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$d/munge/munge.key"
  local host
  host="$(hostname -s)"
  # Ports of our own, so that a Slurm already running on the machine is not disturbed.
  local ctld_port=$((20000 + RANDOM % 20000))
  cat >"$d/slurm.conf" <<EOF
ClusterName=pathprox-ci
SlurmctldHost=${host}(127.0.0.1)
SlurmctldPort=${ctld_port}
SlurmdPort=$((ctld_port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/munge.socket
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/slurmctld.log
SlurmdLogFile=$d/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobContainerType=job_container/none
SwitchType=switch/none
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
# scancel: SIGTERM, then SIGKILL after 5 s (not 30).
KillWait=5
SchedulerType=sched/backfill
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=ci Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  munged --foreground --force --key-file="$d/munge/munge.key" --socket="$d/munge/munge.socket" \
    --pid-file="$d/munge/munged.pid" --seed-file="$d/munge/munged.seed" --log-file="$d/munge/munged.log" \
    >"$d/munged.out" 2>&1 &
  echo $! >"$d/munged.pidof"
  for _ in $(seq 50); do [ -S "$d/munge/munge.socket" ] && break; sleep 0.1; done
  export SLURM_CONF="$d/slurm.conf"
  slurmctld -D -f "$d/slurm.conf" >"$d/slurmctld.out" 2>&1 &
  echo $! >"$d/slurmctld.pidof"
  slurmd -D -N localhost -f "$d/slurm.conf" >"$d/slurmd.out" 2>&1 &
  echo $! >"$d/slurmd.pidof"
  # Ready when the node is idle.
  local ok=""
  for _ in $(seq 100); do
    if sinfo -h -N -o '%T' 2>/dev/null | grep -q '^idle'; then ok=1; break; fi
    sleep 0.2
  done
  if [ -z "$ok" ]; then
    echo "slurm.sh: the node did not become idle; logs in $d" >&2
    tail -n 20 "$d"/*.log "$d"/*.out >&2 || true
    stop "$d"
    exit 1
  fi
  echo "export SLURM_CONF=$d/slurm.conf PATHPROX_SLURM_DIR=$d"
}

stop() {
  local d="$1"
  for name in slurmd slurmctld munged; do
    local f="$d/$name.pidof"
    [ -f "$f" ] || continue
    local pid
    pid="$(cat "$f")"
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:?usage: slurm.sh stop DIR}" ;;
  *) echo "usage: $0 start | stop DIR" >&2; exit 2 ;;
esac

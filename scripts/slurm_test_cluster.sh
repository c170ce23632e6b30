#!/usr/bin/env bash
# A throwaway one-node Slurm cluster for tests (tests/it/slurm_cluster.rs), from
# Debian's slurmctld, slurmd and munge packages, run as root.
#
#   scripts/slurm_test_cluster.sh start DIR   # prints `export SLURM_CONF=...`
#   scripts/slurm_test_cluster.sh stop DIR
#
# Everything lives under DIR: munge key and socket, slurm.conf, state and
# spool directories, logs, pid files. proctrack/linuxproc + task/none so it
# needs no cgroups (containers, CI); a CPU-only node with this machine's cores
# and memory (from `slurmd -C`). Ports: $EXP_SLURM_PORT (controller) and +1
# (slurmd), default 16817.
set -euo pipefail
cmd="${1:?usage: $0 start|stop DIR}"
dir="$(realpath -m "${2:?usage: $0 start|stop DIR}")"
port="${EXP_SLURM_PORT:-16817}"

stop_pidfile() {
  local f="$1"
  if [ -s "$f" ]; then
    local pid
    pid="$(cat "$f")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  fi
}

case "$cmd" in
stop)
  stop_pidfile "$dir/slurmd.pid"
  stop_pidfile "$dir/slurmctld.pid"
  stop_pidfile "$dir/munge/munged.pid"
  exit 0
  ;;
start) ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac

for b in munged mungekey slurmctld slurmd sbatch; do
  command -v "$b" >/dev/null || { echo "$0: $b not found (apt-get install slurmctld slurmd munge slurm-client)" >&2; exit 3; }
done

mkdir -p "$dir"/{munge,state,spool,log,etc}
chmod 700 "$dir/munge"
[ -f "$dir/munge/munge.key" ] || mungekey --create --keyfile="$dir/munge/munge.key" --bits=1024
chmod 400 "$dir/munge/munge.key"
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket.2" \
  --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"

host="$(hostname -s)"
node_line="$(slurmd -C | head -1 | sed "s/^NodeName=[^ ]*/NodeName=$host/")"
cat > "$dir/etc/slurm.conf" <<CONF
ClusterName=exptest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket.2
CredType=cred/munge
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=5
MinJobAge=600
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
export SLURM_CONF="$dir/etc/slurm.conf"
slurmctld -c -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 100); do
  if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.2
done
echo "$0: the node did not become idle; logs in $dir/log" >&2
sinfo >&2 || true
tail -20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
exit 1

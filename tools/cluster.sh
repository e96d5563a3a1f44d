#!/usr/bin/env bash
# A local 3-node dynkv cluster on 127.0.0.1 from config/cluster/node{1,2,3}.yaml.
#   tools/cluster.sh start    start the three nodes and wait until each sees all three up
#   tools/cluster.sh stop     stop them (SIGTERM: a clean shutdown)
#   tools/cluster.sh status   dynkv members, as node1 sees it
# Data and logs go to ./data/cluster/. Run tools/build.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=data/cluster
dynkvd=./build/src/node/dynkvd
dynkv=./build/tools/cli/dynkv
nodes=(1 2 3)

# Node $1's process is alive (a killed process not yet reaped is a zombie: dead).
running() {
  local pid
  pid=$(cat "$dir/node$1.pid" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}

# Node $1 sees every node up and normal (holding its tokens), and serves
# reads and writes itself (node.ready: it has heard the cluster).
all_up() {
  local out
  out=$("$dynkv" --node "127.0.0.1:710$1" members --json 2>/dev/null) || return 1
  local normal
  normal=$(/usr/bin/python3 -c 'import json, sys
print(sum(m["status"] == "normal" and m["up"] for m in json.load(sys.stdin)["members"]))' <<<"$out") || return 1
  [ "$normal" -eq ${#nodes[@]} ] || return 1
  "$dynkv" --node "127.0.0.1:710$1" stats --json 2>/dev/null | grep -q '"node.ready": 1'
}

start() {
  mkdir -p "$dir"
  for i in "${nodes[@]}"; do
    if running "$i"; then echo "node$i already running (pid $(cat "$dir/node$i.pid"))"; continue; fi
    "$dynkvd" --config "config/cluster/node$i.yaml" 2>>"$dir/node$i.log" &
    echo $! >"$dir/node$i.pid"
    echo "started node$i (pid $!, client 127.0.0.1:710$i, log $dir/node$i.log)"
  done
  for i in "${nodes[@]}"; do
    for _ in $(seq 1 150); do
      all_up "$i" && break
      running "$i" || { echo "node$i exited:"; tail -5 "$dir/node$i.log"; exit 1; }
      sleep 0.1
    done
    all_up "$i" || { echo "node$i does not see all ${#nodes[@]} nodes up and normal after 15 s"; exit 1; }
  done
  echo "cluster is up: every node sees all ${#nodes[@]} nodes up and normal"
}

stop() {
  for i in "${nodes[@]}"; do
    if running "$i"; then
      kill -TERM "$(cat "$dir/node$i.pid")"
      for _ in $(seq 1 100); do running "$i" || break; sleep 0.1; done
      echo "stopped node$i"
    fi
    rm -f "$dir/node$i.pid"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) "$dynkv" --node 127.0.0.1:7101 members ;;
  *) echo "usage: tools/cluster.sh start|stop|status" >&2; exit 2 ;;
esac

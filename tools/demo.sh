#!/usr/bin/env bash
# The main job: installs what is missing, builds, starts a local 3-node
# cluster (config/cluster/), shows its members and ring and a few
# operations with the dynkv CLI, and stops the cluster. With --keep the
# cluster keeps running (stop it with tools/cluster.sh stop).
set -euo pipefail
cd "$(dirname "$0")/.."
keep=false
[ "${1:-}" = "--keep" ] && keep=true

bash tools/setup.sh
bash tools/build.sh

dynkv() { ./build/tools/cli/dynkv "$@"; }
show() {
  printf '\n$ dynkv'
  for arg in "$@"; do case "$arg" in *" "*) printf " '%s'" "$arg" ;; *) printf ' %s' "$arg" ;; esac; done
  printf '\n'
  dynkv "$@"
}

$keep || trap 'bash tools/cluster.sh stop' EXIT
bash tools/cluster.sh start

echo; echo "# every node found the others through one seed; up/down is each node's own judgement:"
show --node 127.0.0.1:7102 members
show ring

dynkv del demo:greeting >/dev/null; dynkv del demo:cart >/dev/null
show put demo:greeting "hello, dynkv"
show get demo:greeting
echo; echo "# two writes that did not see each other become siblings, not a lost update:"
show put demo:cart apple
show put demo:cart pear
show get demo:cart --json
ctx=$(dynkv get demo:cart --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["context"])')
echo; echo "# a write with the context of that read replaces both siblings:"
show put demo:cart "apple,pear" --context "$ctx"
show get demo:cart
show put demo:session token123 --ttl 60

echo; echo "# every key lives on N=3 nodes; any node answers, R and W are per request:"
show --node 127.0.0.1:7103 get demo:greeting --r 1

echo; echo "# kill node3: writes with W=2 go on (a live replica keeps a hint for node3), W=3 cannot:"
kill -9 "$(cat data/cluster/node3.pid)"
for _ in $(seq 1 50); do
  dynkv members --json | grep -q '"node_id": "node3", "status": "normal", "up": false' && break
  sleep 0.1
done
show members
show put demo:while-down "written while node3 was dead" --w 2
show put demo:needs-all "x" --w 3 || true

echo; echo "# restart node3: the hints reach it, and it answers with the write it missed:"
bash tools/cluster.sh start
pending() {
  for i in 1 2; do dynkv --node "127.0.0.1:710$i" stats --json; done |
    /usr/bin/python3 -c 'import json,sys; print(sum(int(json.loads(l)["handoff.hints_pending"]) for l in sys.stdin))'
}
for _ in $(seq 1 100); do [ "$(pending)" = 0 ] && break; sleep 0.1; done
for i in 1 2; do
  printf 'node%s: ' "$i"; dynkv --node "127.0.0.1:710$i" stats | grep -E '^handoff\.hints_(stored|delivered|pending)' | tr '\n' ' '; echo
done
show --node 127.0.0.1:7103 get demo:while-down --r 1

if $keep; then
  echo; echo "the cluster keeps running; stop it with: bash tools/cluster.sh stop"
else
  echo; echo "stopping the cluster (run 'bash tools/demo.sh --keep' to leave it running)"
fi

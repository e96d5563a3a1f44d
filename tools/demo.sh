#!/usr/bin/env bash
# The main job: installs what is missing, builds, starts a dynkv node on the
# default config (config/single-node.yaml), shows a few operations with the
# dynkv CLI, and stops the node. With --keep the node keeps running.
set -euo pipefail
cd "$(dirname "$0")/.."
keep=false
[ "${1:-}" = "--keep" ] && keep=true

bash tools/setup.sh
bash tools/build.sh

config=config/single-node.yaml
node=127.0.0.1:7101
mkdir -p data
dynkv() { ./build/tools/cli/dynkv --node "$node" "$@"; }
show() { printf '\n$ dynkv %s\n' "$*"; dynkv "$@"; }

./build/src/node/dynkvd --config "$config" 2>data/node1.log &
pid=$!
stop_node() { kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; }
$keep || trap stop_node EXIT

for _ in $(seq 1 100); do
  dynkv ping >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { echo "dynkvd failed to start:"; cat data/node1.log; exit 1; }
  sleep 0.1
done
echo "dynkvd is running with $config (pid $pid, log data/node1.log)"

dynkv del demo:greeting >/dev/null; dynkv del demo:cart >/dev/null
show ping
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
show stats

if $keep; then
  echo; echo "dynkvd keeps running (pid $pid); stop it with: kill $pid"
else
  echo; echo "stopping dynkvd (run 'bash tools/demo.sh --keep' to leave it running)"
fi

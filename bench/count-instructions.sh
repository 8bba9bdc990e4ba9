#!/usr/bin/env bash
# Instructions per page view of one server, counted by valgrind's callgrind at steady state.
#
# CPU time per request moves by 5-15% from one server process to the next; instruction counts repeat to
# about 1%, so this is the tool for "does this change make a view cheaper?". It counts user-space
# instructions only (the kernel's socket work is not in it) and runs the server about 50 times slower.
#
# usage: bench/count-instructions.sh [app|floor|floor-headers|fastify-floor] [views]   (after npm run build)
# Needs valgrind and redis-server on PATH. Starts its own redis-server on a free port and stops it.
set -euo pipefail

target=${1:-app}
views=${2:-10000}
warmup=30000
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
redis_port=$(node -e 'const s=require("net").createServer().listen(0,()=>{console.log(s.address().port);s.close()})')
port=$(node -e 'const s=require("net").createServer().listen(0,()=>{console.log(s.address().port);s.close()})')
pid=""

cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

redis-server --port "$redis_port" --save '' --appendonly no --daemonize yes --logfile "$work/redis.log" >/dev/null
export REDIS_URL="redis://127.0.0.1:$redis_port" PORT="$port"
# valgrind and callgrind_control name their control pipes after $HOST: both must see the same value.
export HOST=127.0.0.1

case $target in
  app)
    script="$root/dist/app/main.js"
    export NODE_ENV=production SESSION_IDLE_TIMEOUT=1800 LOG_LEVEL=warn
    ;;
  floor) script="$root/dist/bench/servers/floor.js" ;;
  floor-headers) script="$root/dist/bench/servers/floor.js" && export FLOOR_SECURITY_HEADERS=1 ;;
  fastify-floor) script="$root/dist/bench/servers/fastify-floor.js" ;;
  *) echo "unknown target: $target (app, floor, floor-headers or fastify-floor)" >&2 && exit 2 ;;
esac

# --single-threaded: no concurrent compiler or GC threads, whose work would land at random in the count.
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/callgrind.out" \
  node --single-threaded "$script" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 120); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.5
done

if [[ $target == app ]]; then
  jar="$work/cookies"
  curl -s -o /dev/null -c "$jar" -b "$jar" -H "origin: http://127.0.0.1:$port" -H "sec-fetch-site: same-origin" \
    -d "username=instructions&password=correct-horse-battery-staple" "http://127.0.0.1:$port/signup"
  cookie=$(awk '$6 == "lk" { print "lk=" $7 }' "$jar")
else
  cookie=$(curl -s -D - -o /dev/null -X POST "http://127.0.0.1:$port/login?username=instructions" |
    awk -F'[=;]' 'tolower($0) ~ /^set-cookie/ { print "t=" $2 }')
fi
[[ -n $cookie ]] || { echo "could not log in; server log:" >&2 && cat "$work/server.log" >&2 && exit 1; }

drive() {
  node --input-type=module -e '
    import http from "node:http";
    const [port, cookie, total] = [Number(process.argv[1]), process.argv[2], Number(process.argv[3])];
    const agent = new http.Agent({ keepAlive: true, maxSockets: 10 });
    let left = total;
    const view = () => new Promise((resolve, reject) => {
      http.get({ host: "127.0.0.1", port, path: "/", agent, headers: { cookie } }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`GET / answered ${res.statusCode}`));
        res.resume().on("end", resolve);
      }).on("error", reject);
    });
    await Promise.all(Array.from({ length: 10 }, async () => { while (left-- > 0) await view(); }));
    agent.destroy();
  ' "$port" "$cookie" "$1"
}

drive "$warmup"   # uninstrumented: the JIT settles at near full speed
callgrind_control -i on "$pid" >/dev/null
drive "$views"
callgrind_control -d "$pid" >/dev/null
callgrind_control -i off "$pid" >/dev/null
sleep 1
total=$(awk '/^summary:/ { print $2; exit }' "$work/callgrind.out.1")
echo "$target: $((total / views)) instructions per view ($views views after $warmup uncounted)"

#!/usr/bin/env bash
# Run `molecule test -s SCENARIO` and record how long each step took.
#   molecule/timed-test.sh SCENARIO LOGDIR [ROLE]
# With ROLE, the role's own scenario (roles/ROLE/molecule/SCENARIO), logged
# as ROLE. Writes LOGDIR/NAME.log (full output, each line stamped with seconds
# since the start) and LOGDIR/NAME-timings.txt (one line per step), prints the
# timings, and exits with molecule's status. Run it under the host lock.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
scenario=${1:?scenario}
logdir=$repo/${2:-artifacts/molecule}
role=${3:-}
name=${role:-$scenario}
mkdir -p "$logdir"
if [ -n "$role" ]; then cd "roles/$role"; fi
export NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PY_COLORS=0
set +e
"$repo/scripts/molecule" test -s "$scenario" 2>&1 | "$repo/.venv/bin/python" -u -c '
import re, sys, time
start = time.monotonic()
steps, log = [], open(sys.argv[1], "w")
for line in sys.stdin:
    now = time.monotonic() - start
    sys.stdout.write(line)
    log.write(f"{now:8.1f} {line}")
    m = re.search(r"(?:➜|>) (\w+)\]?:? (Executing|Executed|Skipped|Failed)(.*)", line)
    if not m:
        continue
    if m.group(2) == "Executing":
        steps.append([m.group(1), now, None, "running"])
    elif steps and steps[-1][0] == m.group(1) and steps[-1][2] is None:
        steps[-1][2] = now
        steps[-1][3] = (m.group(2) + m.group(3)).strip()
total = time.monotonic() - start
with open(sys.argv[2], "w") as out:
    for name, begin, end, state in steps:
        took = (end if end is not None else total) - begin
        out.write(f"{name:12} {took:7.1f} s  {state}\n")
    out.write("total".ljust(12) + f" {total:7.1f} s\n")
print(open(sys.argv[2]).read(), end="")
' "$logdir/$name.log" "$logdir/$name-timings.txt"
status=${PIPESTATUS[0]}
echo "molecule test -s $scenario${role:+ (roles/$role)}: exit $status (timings in $logdir/$name-timings.txt)"
exit "$status"

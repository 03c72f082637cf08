#!/usr/bin/env bash
# Django tasks per second through Sluice: warm workers (sluice_worker) against
# one process per task (sluice_task), on this machine. Usage:
#   examples/django/bench.sh [TASKS_WARM] [TASKS_EXEC]
# Needs Debian's python3-django and a built sluice (SLUICE, default: go build).
set -euo pipefail
cd "$(dirname "$0")"
n_warm=${1:-2000}
n_exec=${2:-100}
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sluice=${SLUICE:-$tmp/sluice}
[ -x "$sluice" ] || (cd ../.. && go build -o "$sluice" .)
export EXAMPLE_DB=$tmp/db.sqlite3 SLUICE_DB=$tmp/db.sqlite3 SLUICE_SHARED_DB=true SLUICE_LOG_LEVEL=warn PYTHONDONTWRITEBYTECODE=1
$py manage.py migrate -v 0
"$sluice" drain >/dev/null 2>&1   # adds Sluice's tables beside Django's

enqueue() { # N: echo_test tasks through async_task
  $py manage.py shell -c "
from sluice_django import async_task
from django.db import transaction
with transaction.atomic():
    for i in range($1): async_task('accounts.tasks.echo_test', i)"
}
rate() { # LABEL N ENV...: time one drain of N tasks
  local label=$1 n=$2; shift 2
  enqueue "$n"
  local start end
  start=$(date +%s.%N)
  env "$@" "$sluice" drain >/dev/null 2>"$tmp/err" || { cat "$tmp/err"; exit 1; }
  end=$(date +%s.%N)
  $py - "$label" "$n" "$start" "$end" <<'PY'
import sys
label, n, s, e = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
print("{:<34} {:>6} tasks {:>8.2f} s {:>9.1f} tasks/s".format(label, n, e - s, n / (e - s)))
PY
}
warm="[\"$py\",\"manage.py\",\"sluice_worker\"]"
once="[\"$py\",\"manage.py\",\"sluice_task\"]"
rate "warm workers, SLUICE_WORKERS=1" "$n_warm" SLUICE_WORKERS=1 SLUICE_WARM_DJANGO="$warm"
rate "warm workers, SLUICE_WORKERS=2" "$n_warm" SLUICE_WORKERS=2 SLUICE_WARM_DJANGO="$warm"
rate "process per task, SLUICE_WORKERS=1" "$n_exec" SLUICE_WORKERS=1 SLUICE_EXEC_DJANGO="$once"
rate "process per task, SLUICE_WORKERS=2" "$n_exec" SLUICE_WORKERS=2 SLUICE_EXEC_DJANGO="$once"
echo "sluice status: $("$sluice" status 2>/dev/null | head -3 | tr -s ' ' | tr '\n' ' ')"

# Django-Q (Debian's python3-django-q), the old app's settings (ORM broker on
# SQLite, workers=1, timeout=120, retry=180): time from qcluster's start until
# every task's result is saved.
if $py -c 'import django_q' 2>/dev/null; then
  export DJANGO_SETTINGS_MODULE=example.settings_djangoq EXAMPLE_DB=$tmp/djq.sqlite3
  $py manage.py migrate -v 0
  $py manage.py shell -c "
from django_q.tasks import async_task
for i in range($n_warm): async_task('accounts.tasks.echo_test', i)" 2>/dev/null
  start=$(date +%s.%N)
  $py manage.py qcluster >"$tmp/djq.log" 2>&1 &
  qpid=$!
  $py manage.py shell -c "
import time
from django_q.models import Task
while Task.objects.count() < $n_warm: time.sleep(0.05)"
  end=$(date +%s.%N)
  kill -TERM $qpid; wait $qpid || true
  $py - "Django-Q qcluster, workers=1 (ORM)" "$n_warm" "$start" "$end" <<'PY'
import sys
label, n, s, e = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
print("{:<34} {:>6} tasks {:>8.2f} s {:>9.1f} tasks/s".format(label, n, e - s, n / (e - s)))
PY
fi

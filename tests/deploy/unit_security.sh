#!/bin/sh
# The systemd unit's exposure as systemd rates it, offline (no running
# systemd needed): fails above MAX (default 2.0), listing what still counts.
#   tests/deploy/unit_security.sh UNIT [MAX]
set -u
unit=$1
max=${2:-2.0}
out=$(systemd-analyze security --offline=yes --no-pager "$unit" 2>&1)
rc=$?
level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p')
if [ $rc -ne 0 ] || [ -z "$level" ]; then
	printf '%s\n' "$out"
	echo "FAIL: systemd-analyze security gave no exposure level for $unit (exit $rc)"
	exit 1
fi
if ! awk -v l="$level" -v m="$max" 'BEGIN { exit !(l + 0 <= m + 0) }'; then
	printf '%s\n' "$out" | grep '✗'
	echo "FAIL: $unit: exposure $level is above $max"
	exit 1
fi
echo "$unit: exposure $level (at most $max)"

#!/bin/sh
# Runs a command in a network namespace of its own (start it with
# `unshare --net`) with loopback up and one veth pair, so that a test can
# listen on a non-loopback address (LIMES_TEST_NONLOOPBACK) without
# touching the machine's networks. The namespace ends with the command.
set -e
if [ "$(readlink /proc/self/ns/net)" = "$(readlink /proc/1/ns/net)" ]; then
	echo "netns.sh: not in a network namespace of its own: run it as unshare --net $0 COMMAND" >&2
	exit 1
fi
ip link set lo up
ip link add limes-t0 type veth peer name limes-t1
ip addr add 10.77.0.1/24 dev limes-t0
ip link set limes-t0 up
ip link set limes-t1 up
export LIMES_TEST_NONLOOPBACK=10.77.0.1
exec "$@"

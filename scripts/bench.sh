#!/usr/bin/env bash
# bench.sh: measure husk beside runc, crun and a C floor program.
#
#   scripts/bench.sh              30 interleaved iterations (BENCH_N=30)
#   BENCH_N=3 scripts/bench.sh    quick mode (about a minute)
#
# Installs what is missing (runc, crun, strace, gcc, busybox-static), builds
# bin/husk when absent (HUSK=path overrides), the floor (bench/floor/floor.c),
# rsswrap (bench/rsswrap/rsswrap.c) and huskbench (bench/cmd/huskbench), then re-runs itself in a private mount
# namespace. There /sys/fs/cgroup/unified is covered by an empty tmpfs (crun
# refuses this host's hybrid cgroup layout otherwise) and the runtimes' state
# roots live on a tmpfs at build/bench/state, the same for every runtime.
# Results: build/bench/results.{txt,json}; see docs/performance.md.
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=build/bench
STATE=$OUT/state

die() {
	echo "bench: $*" >&2
	exit 1
}

if [[ "${HUSK_BENCH_INNER:-}" != 1 ]]; then
	[[ $(id -u) -eq 0 ]] || die "must run as root"
	command -v go >/dev/null 2>&1 || die "go not found in PATH"

	missing=()
	for p in runc crun strace gcc busybox-static util-linux; do
		status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[[ "$status" == "install ok installed" ]] || missing+=("$p")
	done
	if ((${#missing[@]} > 0)); then
		echo "bench: installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}"
	fi

	HUSK=${HUSK:-bin/husk}
	if [[ ! -x "$HUSK" ]]; then
		make build
	fi
	mkdir -p "$OUT"
	gcc -O2 -Wall -Wextra -o "$OUT/floor" bench/floor/floor.c
	gcc -O2 -Wall -Wextra -static -o "$OUT/rsswrap" bench/rsswrap/rsswrap.c
	go build -o "$OUT/huskbench" ./bench/cmd/huskbench

	rc=0
	HUSK_BENCH_INNER=1 HUSK="$HUSK" unshare -m --propagation private "$0" "$@" || rc=$?
	# The parent cgroup of the typical containers, on the host's side
	# (including the unified hierarchy that was hidden inside): rmdir only
	# removes it when empty. A runtime's just-deleted child cgroup can take a moment to go away, so
	# retry for up to two seconds, then say what is left.
	for _ in $(seq 20); do
		rmdir /sys/fs/cgroup/*/husk-bench 2>/dev/null || true
		compgen -G '/sys/fs/cgroup/*/husk-bench' >/dev/null || break
		sleep 0.1
	done
	if compgen -G '/sys/fs/cgroup/*/husk-bench' >/dev/null; then
		echo "bench: left behind: $(echo /sys/fs/cgroup/*/husk-bench)" >&2
		rc=1
	fi
	exit "$rc"
fi

# Inside the private mount namespace: nothing mounted here outlives it.
mount -t tmpfs -o mode=0755 husk-bench-hide /sys/fs/cgroup/unified
mkdir -p "$STATE"
mount -t tmpfs -o mode=0700 husk-bench-state "$STATE"
cleanup() {
	umount "$STATE" 2>/dev/null || true
	rmdir "$STATE" 2>/dev/null || true
}
trap cleanup EXIT

"$OUT/huskbench" \
	-n "${BENCH_N:-30}" \
	-husk "$HUSK" \
	-runc "$(command -v runc)" \
	-crun "$(command -v crun)" \
	-floor "$OUT/floor" \
	-rsswrap "$OUT/rsswrap" \
	-strace "$(command -v strace)" \
	-busybox "$(command -v busybox)" \
	-seccomp tests/fixtures/seccomp/default.json \
	-out "$OUT" \
	-state "$STATE"

#!/bin/sh
# Run the cgroup v2 and systemd driver tests inside the test VM (systemd on a
# pure cgroup v2 hierarchy), all in one boot. The test binaries are built on
# the host (static, CGO_ENABLED=0) into build/vm-tests/ and run from the
# shared repository. Exits non-zero when any test binary fails.
set -eu

cd "$(dirname "$0")/.."
repo=$(pwd)
testvm=../shared/testvm/testvm.sh
if [ ! -x "$testvm" ]; then
	echo "SKIP: ../shared/testvm not found"
	exit 0
fi

GO=${GO:-go}
out=build/vm-tests
mkdir -p "$out"
pkgs="v2 systemd"
for p in $pkgs; do
	CGO_ENABLED=0 "$GO" test -c -o "$out/cg$p.test" "./libcontainer/cgroups/$p"
done
# End to end on cgroup v2 and systemd: the integration tests that do not read cgroup v1 files, run
# against the same bin/husk (the guest is Debian 12 too, with libseccomp2 and busybox-static).
CGO_ENABLED=1 "$GO" test -c -o "$out/integration.test" ./integration
[ -x bin/husk ] || { echo "FAIL: bin/husk missing (make build first)"; exit 1; }
e2e='TestV2|TestRootless|TestLifecycle|TestRunExitCode|TestRunDetached|TestKillSignals|TestDeleteRunning|TestDeleteUnknown|TestStateJSON|TestSeccompDefaultProfile|TestNamespacesNew|TestHooksAllKinds|TestExecJoinsContainer'

# The image build is idempotent and fast once cached.
"$testvm" build >/dev/null

# One boot: run every binary, report each, fail if any failed, and check
# that no test cgroup or unit was left behind.
script='rc=0
for t in '"$pkgs"'; do
	echo "== cgroups/$t (in VM)"
	if ! '"$out"'/cg$t.test -test.v -test.timeout 300s; then rc=1; echo "FAIL: cgroups/$t"; fi
done
echo "== integration (in VM): '"$e2e"'"
if ! (cd integration && HUSK_BINARY='"$repo"'/bin/husk ../'"$out"'/integration.test -test.v -test.timeout 600s -test.run '"'$e2e'"'); then rc=1; echo "FAIL: integration"; fi
left=$(find /sys/fs/cgroup -name "husk-test*" -o -name "husk-it*" 2>/dev/null)
if [ -n "$left" ]; then echo "FAIL: cgroups left behind: $left"; rc=1; fi
units=$(systemctl list-units --all --no-legend "husk-test*" "husk-it*" 2>/dev/null)
if [ -n "$units" ]; then echo "FAIL: units left behind: $units"; rc=1; fi
exit $rc'
TESTVM_TIMEOUT=${TESTVM_TIMEOUT:-900} "$testvm" run "$repo" "$script"

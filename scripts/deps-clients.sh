#!/usr/bin/env bash
# deps-clients.sh: install the container clients the client integration tests
# drive with husk as their runtime (integration/clients_test.go):
#
#   containerd (with ctr and containerd-shim-runc-v2)   system package
#   podman (with conmon)                                system package
#   docker.io and tini                                  extracted, never installed:
#                                                       build/clients/docker
#
# Docker is only unpacked (apt-get download + dpkg -x) into a private
# directory, so no system-wide dockerd is registered or started. The tests
# start every daemon privately, with temp state dirs.
#
# Idempotent: apt-get update runs once, and only when something is missing;
# when everything is present the script prints nothing.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
docker_dir="$repo/build/clients/docker"

system_packages=(containerd podman conmon)
docker_packages=(docker.io tini)

die() {
	echo "deps-clients: $*" >&2
	exit 1
}

installed() {
	[[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]
}

updated=0
apt_update() {
	if ((updated == 0)); then
		apt-get update -qq
		updated=1
	fi
}

missing=()
for p in "${system_packages[@]}"; do
	installed "$p" || missing+=("$p")
done
need_docker=0
if [[ ! -x "$docker_dir/usr/sbin/dockerd" || ! -x "$docker_dir/usr/bin/docker" ]]; then
	need_docker=1
fi

if ((${#missing[@]} == 0 && need_docker == 0)); then
	exit 0
fi
[[ $(id -u) -eq 0 ]] || die "run as root (missing: ${missing[*]} $( ((need_docker)) && echo docker))"
export DEBIAN_FRONTEND=noninteractive

# containerd_running lists the pids of containerd daemons running now.
containerd_running() {
	pgrep -x containerd 2>/dev/null || true
}

if ((${#missing[@]} > 0)); then
	echo "deps-clients: installing ${missing[*]}"
	before=$(containerd_running)
	apt_update
	# policy-rc.d refuses service starts during this install, so that
	# containerd's (or anything else's) postinst cannot leave a system daemon
	# running. An existing policy-rc.d is kept and restored.
	policy=/usr/sbin/policy-rc.d
	saved=""
	if [[ -e $policy ]]; then
		saved=$(mktemp)
		cp -p "$policy" "$saved"
	fi
	restore_policy() {
		if [[ -n $saved ]]; then
			mv -f "$saved" "$policy"
		else
			rm -f "$policy"
		fi
	}
	trap restore_policy EXIT
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
	restore_policy
	trap - EXIT
	# Without systemd the postinst should start nothing; if a containerd
	# appeared during the install anyway, stop it (only the new ones).
	for pid in $(containerd_running); do
		if ! grep -qw "$pid" <<<"$before"; then
			echo "deps-clients: stopping containerd $pid started by the package install"
			kill "$pid" 2>/dev/null || true
		fi
	done
	if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
		systemctl disable --now containerd.service >/dev/null 2>&1 || true
	fi
fi

if ((need_docker)); then
	echo "deps-clients: extracting ${docker_packages[*]} into $docker_dir"
	apt_update
	dl=$(mktemp -d)
	# apt-get download fetches as the _apt user when it can write there.
	chown _apt "$dl" 2>/dev/null || true
	trap 'rm -rf "$dl"' EXIT
	(cd "$dl" && apt-get download -qq "${docker_packages[@]}") ||
		die "apt-get download ${docker_packages[*]} failed"
	rm -rf "$docker_dir.new"
	mkdir -p "$docker_dir.new"
	for deb in "$dl"/*.deb; do
		dpkg -x "$deb" "$docker_dir.new"
	done
	[[ -x "$docker_dir.new/usr/sbin/dockerd" ]] || die "docker.io package has no usr/sbin/dockerd"
	rm -rf "$docker_dir"
	mv "$docker_dir.new" "$docker_dir"
	rm -rf "$dl"
	trap - EXIT
fi

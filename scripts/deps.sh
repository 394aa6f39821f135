#!/usr/bin/env bash
# deps.sh: install the host packages husk needs to build and test.
# Idempotent: apt-get runs (update once, then install) only when something
# is missing, and the script is silent when everything is already present.
set -euo pipefail

packages=(libseccomp-dev libc6-dev pkg-config busybox-static gcc make git iproute2 util-linux procps strace)

# Go is expected from the upstream tarball in /usr/local/go.
if ! command -v go >/dev/null 2>&1; then
	if [[ -x /usr/local/go/bin/go ]]; then
		echo "deps: go is installed in /usr/local/go/bin but not in PATH; run:" >&2
		echo "  export PATH=/usr/local/go/bin:\$PATH" >&2
	else
		echo "deps: go not found; install Go (>= 1.26) into /usr/local/go first" >&2
	fi
	exit 1
fi

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	if [[ "$status" != "install ok installed" ]]; then
		missing+=("$p")
	fi
done

if ((${#missing[@]} == 0)); then
	exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
	echo "deps: missing packages: ${missing[*]}; run this script as root" >&2
	exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"

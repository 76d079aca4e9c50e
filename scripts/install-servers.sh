#!/usr/bin/env bash
# Installs, from Debian's packages, the servers the tests start on loopback:
# etcd (make e2e), Redis, ZooKeeper and PostgreSQL (make test), the
# chromium that the console's browser tests drive (make test), and what a
# bare Debian 12 lacks to run them: gcc and libc6-dev (go test -race needs
# cgo; gcc only recommends libc6-dev, and recommends are not installed),
# make (.ci/run calls it next) and ca-certificates (go mod download over
# HTTPS). Does nothing when they are all present. Needs root (or sudo) and
# apt-get otherwise.
#
# To add a store: append "FILE:PACKAGE" to APT_PACKAGES; PACKAGE is installed
# when FILE is missing.
set -euo pipefail

APT_PACKAGES=(
	"/usr/bin/etcd:etcd-server"
	"/usr/bin/etcdctl:etcd-client"
	"/usr/bin/redis-server:redis-server"
	"/usr/share/java/zookeeper.jar:zookeeperd"
	"/usr/lib/postgresql/15/bin/postgres:postgresql"
	"/usr/bin/chromium:chromium"
	"/usr/bin/gcc:gcc"
	"/usr/include/stdlib.h:libc6-dev"
	"/usr/bin/make:make"
	"/etc/ssl/certs/ca-certificates.crt:ca-certificates"
)

missing=()
for entry in "${APT_PACKAGES[@]}"; do
	[[ -e ${entry%%:*} ]] || missing+=("${entry#*:}")
done
if [[ ${#missing[@]} -eq 0 ]]; then
	exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
	if ! command -v sudo >/dev/null; then
		echo "install-servers: the tests need these Debian packages: ${missing[*]}" >&2
		echo "install-servers: run as root, or: apt-get install ${missing[*]}" >&2
		exit 1
	fi
	sudo=(sudo)
fi
if ! command -v apt-get >/dev/null; then
	echo "install-servers: no apt-get here; install these servers by hand: ${missing[*]}" >&2
	exit 1
fi

echo "install-servers: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Keep the packages' init scripts from starting system services (etcd on
# 2379, ...): the tests start their own on free ports.
policy=/usr/sbin/policy-rc.d
added_policy=
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
	"${sudo[@]}" chmod +x "$policy"
	added_policy=1
fi
"${sudo[@]}" apt-get update -qq </dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
if [[ -n $added_policy ]]; then
	"${sudo[@]}" rm -f "$policy"
fi

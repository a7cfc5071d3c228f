#!/bin/sh
# Runs on each node before anything changes: is this a host swarm-ha can drive?
: "${NODE_NAME:?}" "${MIN_DOCKER_VERSION:?}"

command -v docker >/dev/null 2>&1 ||
    die "the docker CLI is not installed; install Docker Engine $MIN_DOCKER_VERSION or newer"
command -v awk >/dev/null 2>&1 ||
    die "awk is not installed; swarm-ha's swarm health check needs it (any POSIX awk)"
command -v curl >/dev/null 2>&1 ||
    die "curl is not installed; swarm-ha joins nodes through the Docker API socket with curl so join tokens stay out of process lists"
version=$(docker version --format '{{.Server.Version}}' 2>&1) ||
    die "the Docker engine does not answer ($version); start it and check that the SSH user may use it"
[ -w /var/run/docker.sock ] ||
    die "the SSH user cannot write /var/run/docker.sock; use root or a member of the docker group"

major=${version%%.*}
rest=${version#*.}
minor=${rest%%.*}
min_major=${MIN_DOCKER_VERSION%%.*}
min_minor=${MIN_DOCKER_VERSION#*.}
case "$major" in '' | *[!0-9]*) die "cannot read the Docker engine version '$version'" ;; esac
case "$minor" in '' | *[!0-9]*) die "cannot read the Docker engine version '$version'" ;; esac
if [ "$major" -lt "$min_major" ] || { [ "$major" -eq "$min_major" ] && [ "$minor" -lt "$min_minor" ]; }; then
    die "Docker engine $version is too old; swarm-ha needs $MIN_DOCKER_VERSION or newer"
fi

printf 'docker_version=%s\n' "$version"
printf 'swarm_state=%s\n' "$(swarm_info '{{.Swarm.LocalNodeState}}')"

#!/bin/bash
# Finish a freshly debootstrapped zoolab base image:
#   finish-image.sh ROOTFS USER UID
# The image is overlaid read-only by every container and owned by the host's
# root, which no container maps: a container's root cannot change it.
set -euo pipefail
rootfs=$1 user=$2 uid=$3
in_image() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin chroot "$rootfs" "$@"; }

# The service user (uid/gid fixed: the data directories are owned by its id).
in_image groupadd --gid "$uid" "$user"
in_image useradd --uid "$uid" --gid "$uid" --no-create-home --home-dir "/home/$user" \
    --shell /usr/sbin/nologin "$user"

# Mount points of the per-container bind mounts (see the container config):
# the home with the app and data, zoolab's own config, logs, the binaries.
mkdir -p "$rootfs/home/$user" "$rootfs/etc/zoolab" "$rootfs/var/log/zoolab" "$rootfs/opt/zoolab/bin"
for bin in zookd2 zookfs; do
    ln -sfn "/opt/zoolab/bin/$bin" "$rootfs/usr/local/bin/$bin"
done

# No name service: a lookup must never leave the host.
: > "$rootfs/etc/resolv.conf"

# The image answers to the tools the course's grader runs inside.
for tool in python3 iptables-restore ping test rm runsvdir sv chpst svlogd ip; do
    in_image sh -c "command -v $tool" >/dev/null || { echo "image lacks $tool" >&2; exit 1; }
done
in_image python3 -c 'import flask, sqlalchemy, gunicorn, nh3, werkzeug, jinja2'

rm -rf "$rootfs/tmp/zoolab-wheels" "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*_Packages

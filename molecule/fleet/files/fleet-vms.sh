#!/usr/bin/env bash
# Simulated course VMs for molecule/fleet: privileged LXC system containers
# with nesting, each a small Debian with LXC, python3-lxc and sshd, on their
# own host bridge, reached over SSH exactly as a real course VM would be.
#
#   fleet-vms.sh create NAME:ADDRESS ...    build the VM image once, start the VMs
#   fleet-vms.sh destroy NAME ...           stop and remove the VMs (the image stays)
#
# The VMs have no way out: their bridge is never NATed and the host drops
# anything forwarded from it to another interface. Nothing inside them needs
# the network: their Debian packages are preinstalled here (apt on the host),
# and the containers' base image is hard-linked from the host's cache, so the
# site playbook finds it already built. Run under the fleet lock
# (/run/zoolab-fleet.lock, which `make test-fleet` takes): the VMs use
# nothing of the host's site but that image.
#
# create.yml passes what the roles define: ZOOLAB_FLEET_PACKAGES (comma list:
# the host role's packages and what a VM needs besides) and
# ZOOLAB_FLEET_MIRROR (the Debian mirror, chosen as the base image's is).
set -euo pipefail

STATE=${ZOOLAB_FLEET_DIR:-/var/lib/zoolab-fleet}
IMAGE=$STATE/vm-rootfs
BRIDGE=${ZOOLAB_FLEET_BRIDGE:-zlfleet0}
GATEWAY=${ZOOLAB_FLEET_GATEWAY:-10.2.0.1}
HOST_BASE=${ZOOLAB_BASE_DIR:-/var/lib/zoolab/base}
KEY=$STATE/id_ed25519

log() { echo "fleet: $*" >&2; }

# apt in the image, from the host (chroot shares the host's network); the
# image keeps an empty resolv.conf so that nothing inside a VM resolves out.
image_apt() {
    cp /etc/resolv.conf "$1/etc/resolv.conf"
    chroot "$1" apt-get update -qq
    local packages
    IFS=, read -ra packages <<< "$ZOOLAB_FLEET_PACKAGES"
    DEBIAN_FRONTEND=noninteractive chroot "$1" apt-get install -y -qq --no-install-recommends \
        "${packages[@]}" >/dev/null 2>&1
    : > "$1/etc/resolv.conf"
}

build_image() {
    if [ -e "$IMAGE/.complete" ]; then
        # keep the package lists fresh (the host role's apt task then needs no
        # network) and the package set complete; no VM runs on it now
        image_apt "$IMAGE"
        return
    fi
    local build=$IMAGE.build
    if [ ! -x "$build/usr/bin/python3" ]; then
        rm -rf "$build"
        log "debootstrap of the VM image (once)"
        debootstrap --variant=minbase --include="$ZOOLAB_FLEET_PACKAGES" bookworm "$build" "$ZOOLAB_FLEET_MIRROR" >/dev/null
    fi
    cp /etc/apt/sources.list.d/debian.sources "$build/etc/apt/sources.list.d/"
    rm -f "$build/etc/apt/sources.list"
    printf '#!/bin/sh\nexit 101\n' > "$build/usr/sbin/policy-rc.d"
    chmod 0755 "$build/usr/sbin/policy-rc.d"
    image_apt "$build"
    cat > "$build/usr/local/sbin/vm-init" <<'INIT'
#!/bin/sh
# PID 1 of a simulated course VM: reap orphans (tini -s), serve SSH.
mkdir -p /run/sshd /run/lock
exec /usr/bin/tini -s -- /usr/sbin/sshd -D -e
INIT
    chmod 0755 "$build/usr/local/sbin/vm-init"
    mkdir -p "$build/root/.ssh"
    chmod 0700 "$build/root/.ssh"
    touch "$build/.complete"
    mv "$build" "$IMAGE"
}

host_network() {
    [ -f "$KEY" ] || ssh-keygen -q -t ed25519 -N '' -C zoolab-fleet -f "$KEY"
    ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
    ip -4 addr show dev "$BRIDGE" | grep -q "inet $GATEWAY/24" || ip addr add "$GATEWAY/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    iptables -C FORWARD -i "$BRIDGE" ! -o "$BRIDGE" -j DROP 2>/dev/null ||
        iptables -I FORWARD -i "$BRIDGE" ! -o "$BRIDGE" -j DROP
}

write_config() {
    local name=$1 addr=$2 dir=$STATE/$1
    mkdir -p "$dir/delta" "$dir/lxc" "$dir/zoolab/base" "/var/lib/lxc/$name"
    cat > "/var/lib/lxc/$name/config" <<CONF
# zoolab fleet VM $name ($addr): a simulated course VM (molecule/fleet)
lxc.include = /usr/share/lxc/config/common.conf
lxc.include = /usr/share/lxc/config/nesting.conf
lxc.uts.name = $name
lxc.arch = linux64
lxc.rootfs.path = overlay:$IMAGE:$dir/delta
lxc.mount.auto = proc:mixed sys:mixed cgroup:rw:force
lxc.apparmor.profile = unconfined
lxc.net.0.type = veth
lxc.net.0.link = $BRIDGE
lxc.net.0.flags = up
lxc.net.0.name = eth0
lxc.net.0.ipv4.address = $addr/24
lxc.net.0.ipv4.gateway = $GATEWAY
lxc.init.cmd = /usr/local/sbin/vm-init
lxc.mount.entry = tmpfs run tmpfs rw,nosuid,nodev,mode=0755 0 0
lxc.mount.entry = tmpfs dev/shm tmpfs rw,nosuid,nodev,create=dir 0 0
lxc.mount.entry = $dir/lxc var/lib/lxc none bind,create=dir 0 0
lxc.mount.entry = $dir/zoolab var/lib/zoolab none bind,create=dir 0 0
CONF
    mkdir -p "$dir/delta/root/.ssh"
    cp "$KEY.pub" "$dir/delta/root/.ssh/authorized_keys"
    chmod 0600 "$dir/delta/root/.ssh/authorized_keys"
    # the containers' base image, as the host built it (hard links: no copy)
    local image
    for image in "$HOST_BASE"/*/; do
        image=$(basename "$image")
        [ -e "$HOST_BASE/$image/complete" ] || continue
        [ -e "$dir/zoolab/base/$image" ] || cp -al "$HOST_BASE/$image" "$dir/zoolab/base/$image"
    done
}

wait_ssh() {
    local addr=$1
    for _ in $(seq 100); do
        if ssh -q -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
               -o ConnectTimeout=2 -i "$KEY" "root@$addr" true 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    log "no SSH on $addr after 20 s"
    return 1
}

create() {
    : "${ZOOLAB_FLEET_PACKAGES:?set by molecule/fleet/create.yml}" "${ZOOLAB_FLEET_MIRROR:?set by molecule/fleet/create.yml}"
    local running
    running=$(lxc-ls --running --filter '^zlvm' 2>/dev/null || true)
    [ -z "$running" ] || { log "destroy the running VMs first: $running"; exit 1; }
    ls "$HOST_BASE"/*/complete >/dev/null 2>&1 || {
        log "no finished base image under $HOST_BASE: converge the site on this host first" \
            "(make up or make test-molecule keeps it)"; exit 1; }
    build_image
    host_network
    local spec name addr
    for spec in "$@"; do
        name=${spec%%:*} addr=${spec#*:}
        write_config "$name" "$addr"
        [ "$(lxc-info -n "$name" -s -H)" = RUNNING ] || lxc-start -n "$name"
    done
    for spec in "$@"; do
        wait_ssh "${spec#*:}"
    done
}

destroy() {
    local name
    for name in "$@"; do
        if [ -e "/var/lib/lxc/$name/config" ]; then
            lxc-stop -k -n "$name" 2>/dev/null || true
            rm -rf "/var/lib/lxc/$name"
        fi
        rm -rf "${STATE:?}/$name"
    done
}

case ${1:-} in
    create) shift; create "$@" ;;
    destroy) shift; destroy "$@" ;;
    *) echo "usage: $0 create NAME:ADDRESS ... | destroy NAME ..." >&2; exit 2 ;;
esac

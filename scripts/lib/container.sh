# Shell functions for the container stage of scripts/test.sh: podman on this kind of machine (no
# Docker engine, no registry; /work/shared/notes/containers.md has the measurements), a local
# debian:bookworm-slim made with debootstrap, and cleaning up after it. Source it after `log`,
# `ROOT` and `WORK` are defined.
#
# podman_setup writes a private containers.conf and storage.conf under a temp dir and exports
# CONTAINERS_CONF / CONTAINERS_STORAGE_CONF, so nothing here touches the machine's own podman state;
# podman_teardown removes everything made under it (containers, images, storage).

CONTAINER_TMP=""
BASE_IMAGE_TARBALL="$ROOT/.build/container-cache/debian-bookworm-minbase.tar"
BASE_IMAGE_PID=""

# install_container_packages: podman and its companions, debootstrap (the base image) and nginx
# (deploy/nginx.conf in front of two nodes), from Debian, when missing.
install_container_packages() {
    local missing=()
    command -v podman > /dev/null || missing+=(podman buildah conmon golang-github-containers-common catatonit uidmap fuse-overlayfs)
    [ -x /usr/sbin/runc ] || command -v runc > /dev/null || missing+=(runc)
    [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
    [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
    if [ ${#missing[@]} -eq 0 ]; then return; fi
    log "Installing Debian packages for the container stage: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: these packages are missing and installing them needs root: ${missing[*]}" >&2
        exit 1
    fi
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"
}

# debian_mirror: the Debian mirror this machine's apt uses (deb822 or one-line sources).
debian_mirror() {
    local uri
    uri=$(awk '/^URIs:/ && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2> /dev/null || true)
    if [ -z "$uri" ]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' \
            /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2> /dev/null || true)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

# make_base_tarball: debootstrap --variant=minbase bookworm into a temp dir and tar it to
# BASE_IMAGE_TARBALL (~80 s, ~120 MB), unless it is there already. Atomic: an interrupted run
# leaves no tarball behind.
make_base_tarball() {
    if [ -s "$BASE_IMAGE_TARBALL" ]; then return; fi
    local dir started=$SECONDS
    mkdir -p "$(dirname "$BASE_IMAGE_TARBALL")"
    dir=$(mktemp -d /tmp/switchboard-minbase.XXXXXX)
    if ! debootstrap --variant=minbase bookworm "$dir/root" "$(debian_mirror)" > "$dir/debootstrap.log" 2>&1; then
        echo "error: debootstrap failed; its log:" >&2
        tail -n 30 "$dir/debootstrap.log" >&2
        rm -rf "$dir"
        return 1
    fi
    rm -rf "$dir/root"/var/cache/apt/archives/*.deb "$dir/root"/var/lib/apt/lists/*
    tar -C "$dir/root" -cf "$BASE_IMAGE_TARBALL.partial" .
    mv "$BASE_IMAGE_TARBALL.partial" "$BASE_IMAGE_TARBALL"
    rm -rf "$dir"
    echo "debootstrap minbase bookworm: $((SECONDS - started)) s"
}

# start_base_tarball: make_base_tarball in the background (BASE_IMAGE_PID), output to a log in WORK.
start_base_tarball() {
    if [ -s "$BASE_IMAGE_TARBALL" ]; then return; fi
    make_base_tarball > "$WORK/debootstrap.log" 2>&1 &
    BASE_IMAGE_PID=$!
}

# wait_base_tarball: wait for start_base_tarball's job (or make the tarball now if none ran).
wait_base_tarball() {
    if [ -n "$BASE_IMAGE_PID" ]; then
        if ! wait "$BASE_IMAGE_PID"; then
            cat "$WORK/debootstrap.log" >&2
            BASE_IMAGE_PID=""
            return 1
        fi
        BASE_IMAGE_PID=""
        cat "$WORK/debootstrap.log"
    fi
    make_base_tarball
}

# podman_setup: a private podman configuration and storage in a temp dir (CONTAINER_TMP), with
# this machine's fixes: runc (crun refuses its hybrid cgroups), cgroupfs, file events, host
# networking, and ulimits within the hard limits (root cannot raise them here).
podman_setup() {
    CONTAINER_TMP=$(mktemp -d /tmp/switchboard-podman.XXXXXX)
    local nofile
    nofile=$(ulimit -Hn)
    [ "$nofile" = unlimited ] && nofile=1048576
    mkdir -p "$CONTAINER_TMP/storage" "$CONTAINER_TMP/run" "$CONTAINER_TMP/tmp"
    cat > "$CONTAINER_TMP/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]
netns = "host"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$CONTAINER_TMP/events.log"
tmp_dir = "$CONTAINER_TMP/tmp"
CONF
    cat > "$CONTAINER_TMP/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$CONTAINER_TMP/storage"
runroot = "$CONTAINER_TMP/run"
CONF
    export CONTAINERS_CONF="$CONTAINER_TMP/containers.conf"
    export CONTAINERS_STORAGE_CONF="$CONTAINER_TMP/storage.conf"
}

# podman_teardown: remove every container and image of the private storage, then the storage.
podman_teardown() {
    if [ -n "$BASE_IMAGE_PID" ]; then
        kill "$BASE_IMAGE_PID" 2> /dev/null || true
        wait "$BASE_IMAGE_PID" 2> /dev/null || true
        BASE_IMAGE_PID=""
    fi
    if [ -z "$CONTAINER_TMP" ]; then return; fi
    # Only ever on the private storage: never the machine's own podman state.
    if [ "${CONTAINERS_STORAGE_CONF:-}" = "$CONTAINER_TMP/storage.conf" ]; then
        podman rm --force --all --time 0 > /dev/null 2>&1 || true
        podman rmi --force --all > /dev/null 2>&1 || true
    fi
    # Overlay layers podman left mounted, if any, before removing the directory.
    local mount
    for mount in $(awk -v dir="$CONTAINER_TMP/" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r); do
        umount "$mount" 2> /dev/null || umount -l "$mount" 2> /dev/null || true
    done
    rm -rf "$CONTAINER_TMP"
    CONTAINER_TMP=""
    unset CONTAINERS_CONF CONTAINERS_STORAGE_CONF
}

# import_base_image: BASE_IMAGE_TARBALL as debian:bookworm-slim in the private storage.
import_base_image() {
    podman import --quiet "$BASE_IMAGE_TARBALL" debian:bookworm-slim > /dev/null
}

# ---- the release build and the container stage of scripts/test.sh --------------------------------

RELEASE_SCRATCH="$ROOT/.build-release"
RELEASE_BIN="$RELEASE_SCRATCH/release/switchboard"
RELEASE_PID=""
RELEASE_STARTED=""

# start_release_build: the static-stdlib release build of `switchboard`, in the background at the
# lowest priority (it overlaps the Swift tests) in a scratch path of its own (so it never waits for
# the debug build's lock). One build serves the moved-binary test, the nginx test and the image.
start_release_build() {
    RELEASE_STARTED=$SECONDS
    nice -n 19 swift build -c release --static-swift-stdlib --product switchboard \
        --scratch-path "$RELEASE_SCRATCH" > "$WORK/release-build.log" 2>&1 &
    RELEASE_PID=$!
    echo "static release build started in the background (log: $WORK/release-build.log)"
}

# wait_release_build: wait for it; prints how long it took (its own time, not the wait's).
wait_release_build() {
    local waited=$SECONDS
    if [ -z "$RELEASE_PID" ]; then start_release_build; fi
    if ! wait "$RELEASE_PID"; then
        RELEASE_PID=""
        echo "error: the static release build failed; its log:" >&2
        tail -n 60 "$WORK/release-build.log" >&2
        exit 1
    fi
    RELEASE_PID=""
    # SwiftPM's own "Build of product 'switchboard' complete! (N s)": how long the build itself took.
    echo "static release build: $(grep -o 'complete! ([0-9.]*s)' "$WORK/release-build.log" | tail -n 1)," \
        "started $((SECONDS - RELEASE_STARTED)) s ago, waited $((SECONDS - waited)) s for it here"
    ls -l "$RELEASE_BIN"
}

# stop_release_build: stop it, if it still runs (cleanup).
stop_release_build() {
    if [ -n "$RELEASE_PID" ]; then
        kill "$RELEASE_PID" 2> /dev/null || true
        wait "$RELEASE_PID" 2> /dev/null || true
        RELEASE_PID=""
    fi
}

# container_stage PYTHON: the moved-binary test, the image (built from the Dockerfile with podman,
# the build stage replaced by the release binary) and its tests, and deploy/nginx.conf in front of
# two nodes. PYTHON is a virtualenv's python with websockets, PyJWT and pytest (Tests/Protocol's).
container_stage() {
    local python=$1 started=$SECONDS step context
    log "Release binary (static stdlib): waiting for the background build"
    wait_release_build

    log "The release binary copied alone into an empty directory, build folders hidden: serves / and its assets; links only libc/libm/libstdc++/libgcc_s/zlib"
    ldd "$RELEASE_BIN"
    SWITCHBOARD_RELEASE_BIN="$RELEASE_BIN" SWITCHBOARD_LOGS="$WORK" \
        "$python" -m pytest -q -p no:cacheprovider Tests/Container/test_moved_binary.py

    log "Container image: podman build of the Dockerfile (build stage = the release binary), then run it"
    step=$SECONDS
    wait_base_tarball
    echo "base image tarball ready after $((SECONDS - step)) s of waiting"
    podman_setup
    import_base_image
    context=$(mktemp -d "$CONTAINER_TMP/build-context.XXXXXX")
    mkdir -p "$context/out"
    cp "$RELEASE_BIN" "$context/out/switchboard"
    strip "$context/out/switchboard"
    step=$SECONDS
    # --format docker keeps HEALTHCHECK (OCI images have none); --pull=never: every base is local.
    podman build --quiet --format docker --pull=never --network host --build-context "build=$context" \
        --tag localhost/switchboard:test --file Dockerfile . > "$WORK/podman-build.log" 2>&1 || {
        cat "$WORK/podman-build.log" >&2
        exit 1
    }
    echo "podman build: $((SECONDS - step)) s; image $(podman image inspect --format '{{.Size}}' localhost/switchboard:test) bytes"
    SWITCHBOARD_IMAGE=localhost/switchboard:test SWITCHBOARD_LOGS="$WORK" \
        "$python" -m pytest -q -p no:cacheprovider Tests/Container/test_image.py
    podman_teardown

    log "deploy/nginx.conf with Debian's nginx in front of two switchboard serve --engine postgres nodes"
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U switchboard nginx_cluster
    SWITCHBOARD_RELEASE_BIN="$RELEASE_BIN" SWITCHBOARD_CLUSTER_DB="postgres://switchboard@127.0.0.1:$PG_PORT/nginx_cluster" \
        SWITCHBOARD_LOGS="$WORK" "$python" -m pytest -q -p no:cacheprovider Tests/Container/test_nginx.py
    echo "container stage: $((SECONDS - started)) s"
}

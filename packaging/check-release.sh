#!/usr/bin/env bash
# Release check, run on demand (not part of every CI run): builds the release artifacts the way
# a release is made, from a clean export of HEAD (`git archive`: no .git, nothing uncommitted),
# with packaging/build-static.sh and packaging/build-deb.sh, then checks them as an operator
# would:
#   - the static binary has no dynamic dependencies and runs in an empty root
#     (`rampart version` names the exported commit, `rampart admin status` creates a data dir);
#   - the .deb installs with `dpkg -i` into a clean Debian root (debootstrap, minbase), creates
#     the `rampart` user and its directories, ships the hardened unit (`systemd-analyze verify`
#     and `security --offline`) and a config that `rampart serve --check-config` accepts; the
#     unit's own command line serves /ready as the `rampart` user;
#   - `dpkg -r` and `dpkg --purge` remove it cleanly and keep /var/lib/rampart, and a
#     reinstall finds the same instance.
#
#   packaging/check-release.sh            # HEAD: PASS lines and a summary; exit 0 if all pass
#   packaging/check-release.sh v0.1.0     # any commit or tag
#
# Needs root (chroot), git, and network access to Debian's packages for debootstrap (the
# Debian root is cached as a tarball; every run unpacks a fresh copy). Work dir:
# $CHECK_RELEASE_DIR, default target/check-release (its own cargo target dir, kept between
# runs). The mirror is the machine's apt source, or $DEBIAN_MIRROR.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${CHECK_RELEASE_DIR:-$repo/target/check-release}"
[ "$(id -u)" = 0 ] || { echo "check-release: run as root (chroot, dpkg into a root)" >&2; exit 2; }
mkdir -p "$work"
work="$(cd "$work" && pwd)"
chroot="$(command -v chroot)" || { echo "check-release: needs chroot" >&2; exit 2; }

passed=0
pass() { passed=$((passed + 1)); echo "PASS  $*"; }
fail() { echo "FAIL  $*" >&2; exit 1; }
step() { echo "== $*"; }
# Fails with the command's output when it fails.
check() {
  local what=$1; shift
  local out
  if out="$("$@" 2>&1)"; then pass "$what"; else echo "$out" >&2; fail "$what"; fi
}

mounted=()
cleanup() {
  for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
}
trap cleanup EXIT

# 1. A clean export of HEAD, as in a release tarball.
rev="${1:-HEAD}"
step "export $rev"
commit="$(git -C "$repo" rev-parse --short=12 "$rev^{commit}")" || fail "no such commit: $rev"
if [ "$rev" = HEAD ] && [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
  echo "note: the work tree has uncommitted changes; they are not part of the export" >&2
fi
# Re-exported only when HEAD moved, so a rerun at the same commit reuses the build.
if [ "$(cat "$work/src.commit" 2>/dev/null)" != "$commit" ]; then
  rm -rf "$work/src" "$work/src.commit"
  mkdir -p "$work/src"
  git -C "$repo" archive --format=tar "$commit" | tar -x -C "$work/src"
  echo "$commit" >"$work/src.commit"
fi
[ ! -e "$work/src/.git" ] || fail "the export contains .git"
pass "exported $commit without .git ($(du -sh "$work/src" | cut -f1))"

# 2. Build: the static binary (its own checks included) and the .deb.
step "build (packaging/build-deb.sh, which runs packaging/build-static.sh)"
export CARGO_TARGET_DIR="$work/target"
start=$(date +%s)
deb="$(cd "$work/src" && packaging/build-deb.sh 2>"$work/build.log" | tail -n1)" || {
  tail -n 40 "$work/build.log" >&2
  fail "build"
}
bin="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/rampart"
[ -f "$deb" ] || fail "no .deb: $deb"
pass "built in $(( $(date +%s) - start )) s: $(basename "$deb") ($(du -h "$deb" | cut -f1)), binary $(du -h "$bin" | cut -f1)"

# 3. The static binary.
step "static binary"
desc="$(file -b "$bin")"
case "$desc" in
  *"static-pie linked"*|*"statically linked"*) pass "file: ${desc%%, BuildID*}" ;;
  *) fail "not static: $desc" ;;
esac
if readelf -d "$bin" | grep -q NEEDED; then fail "readelf lists NEEDED libraries"; fi
pass "no NEEDED entries (readelf -d), no interpreter: $(readelf -l "$bin" | grep -c 'Requesting program interpreter') interpreter requests"
empty="$work/empty-root"
rm -rf "$empty"; mkdir -p "$empty/tmp"
cp "$bin" "$empty/rampart"
version="$(env -i "$chroot" "$empty" /rampart version)" || fail "rampart version in an empty root"
echo "$version" | sed 's/^/      /'
grep -q "commit $commit" <<<"$version" || fail "rampart version does not name commit $commit"
pass "runs in an empty root (only the binary in it): rampart version names commit $commit"
env -i "$chroot" "$empty" /rampart --data-dir /tmp/data admin status >"$work/status.out" 2>&1 || {
  cat "$work/status.out" >&2; fail "rampart admin status in an empty root"; }
pass "rampart admin status in the empty root created and opened an encrypted data dir"

# 4. A clean Debian root.
step "clean Debian root"
suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
mirror="${DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
fi
if [ -z "$mirror" ]; then
  mirror="$(awk '$1 == "deb" && $2 !~ /^\[/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
fi
cache="$work/debian-$suite-minbase.tar"
if [ ! -f "$cache" ]; then
  command -v debootstrap >/dev/null || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  }
  rm -rf "$work/debootstrap"
  debootstrap --variant=minbase "$suite" "$work/debootstrap" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -n 20 "$work/debootstrap.log" >&2; fail "debootstrap $suite"; }
  tar -C "$work/debootstrap" -cf "$cache.part" . && mv "$cache.part" "$cache"
  rm -rf "$work/debootstrap"
fi
root="$work/debian-root"
rm -rf "$root"; mkdir -p "$root"
tar -C "$root" -xf "$cache"
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
# A clean environment inside the root, as systemd gives a service.
clean_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
in_root() { env -i PATH="$clean_path" "$chroot" "$root" "$@"; }
as_rampart() { env -i PATH="$clean_path" HOME=/var/lib/rampart "$chroot" --userspec=rampart:rampart "$root" "$@"; }
in_root getent passwd rampart >/dev/null && fail "the fresh root already has a rampart user"
pass "fresh Debian $suite minbase root (no systemd, no rampart user)"

# 5. Install.
step "dpkg -i"
cp "$deb" "$root/tmp/rampart.deb"
in_root dpkg -i /tmp/rampart.deb >"$work/dpkg-install.log" 2>&1 || {
  cat "$work/dpkg-install.log" >&2; fail "dpkg -i"; }
pass "dpkg -i $(basename "$deb")"
in_root dpkg -s rampart | grep -q '^Status: install ok installed' || fail "dpkg -s: not installed"
IFS=: read -r _ _ uid _ _ home shell <<<"$(in_root getent passwd rampart)"
[ "$uid" -lt 1000 ] || fail "rampart is not a system user (uid $uid)"
[ "$home" = /var/lib/rampart ] && [ "$shell" = /usr/sbin/nologin ] || fail "rampart user: home $home, shell $shell"
pass "user rampart: system uid $uid, home $home, shell $shell"
expect_stat() {  # path  "mode owner:group"
  local got; got="$(in_root stat -c '%a %U:%G' "$1")" || fail "$1 missing"
  [ "$got" = "$2" ] || fail "$1 is $got, expected $2"
}
expect_stat /var/lib/rampart "700 rampart:rampart"
expect_stat /var/log/rampart "700 rampart:rampart"
expect_stat /etc/rampart "750 root:rampart"
expect_stat /etc/rampart/rampart.toml "640 root:rampart"
expect_stat /usr/bin/rampart "755 root:root"
pass "directories: /var/lib/rampart and /var/log/rampart 0700 rampart, /etc/rampart 0750 root:rampart, rampart.toml 0640"
unit="$root/lib/systemd/system/rampart.service"
[ -f "$unit" ] || fail "no unit at /lib/systemd/system/rampart.service"
for d in 'User=rampart' 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'CapabilityBoundingSet=$' 'SystemCallFilter=@system-service' 'StateDirectory=rampart'; do
  grep -q "^$d" "$unit" || fail "unit lacks $d"
done
pass "hardened unit installed (User=rampart, NoNewPrivileges, ProtectSystem=strict, no capabilities, syscall filter)"
if command -v systemd-analyze >/dev/null; then
  # The host's systemd checks the installed unit; ExecStart pointed into the root, where the
  # binary is (a minbase root has no systemd and no targets to verify against).
  mkdir -p "$work/unit-check"
  sed "s|/usr/bin/rampart|$root/usr/bin/rampart|g" "$unit" >"$work/unit-check/rampart.service"
  check "systemd-analyze verify: the installed unit is valid and its ExecStart binary exists" \
    systemd-analyze verify --man=no "$work/unit-check/rampart.service"
  exposure="$(systemd-analyze security --offline=yes --root="$root" rampart.service 2>/dev/null | tail -n1)"
  pass "systemd-analyze security --offline: ${exposure#→ }"
else
  echo "note: systemd-analyze not available; unit not verified" >&2
fi
check "rampart serve --check-config accepts the shipped /etc/rampart/rampart.toml (as rampart)" \
  as_rampart /usr/bin/rampart --config /etc/rampart/rampart.toml serve --check-config

# The unit's own command line, as its user, on a loopback port.
exec_start="$(sed -n 's/^ExecStart=//p' "$unit")"
read -r -a argv <<<"$exec_start"
# A plain command, not the function: `$!` is then rampart's own pid (env and chroot exec it).
env -i PATH="$clean_path" HOME=/var/lib/rampart "$chroot" --userspec=rampart:rampart "$root" \
  "${argv[@]}" --bind 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.log" &
serve_pid=$!
url=""
for _ in $(seq 1 100); do
  url="$(sed -n 's/^listening on //p' "$work/serve.out" | head -n1)"
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { cat "$work/serve.log" >&2; kill "$serve_pid" 2>/dev/null; fail "ExecStart did not listen"; }
ready=""
for _ in $(seq 1 50); do
  ready="$(curl -fsS "$url/ready" 2>/dev/null)" && break
  sleep 0.1
done
kill -TERM "$serve_pid"; wait "$serve_pid" || fail "serve did not stop cleanly on SIGTERM"
[ -n "$ready" ] || fail "/ready did not answer"
pass "ExecStart as user rampart: serves $url/ready ($ready), stops on SIGTERM"
expect_stat /var/lib/rampart/master.key "600 rampart:rampart"
expect_stat /var/lib/rampart/platform.db "600 rampart:rampart"
instance="$(as_rampart /usr/bin/rampart --config /etc/rampart/rampart.toml --data-dir /var/lib/rampart admin status --json)"
pass "data in /var/lib/rampart owned by rampart, key and database 0600"

# 6. Remove, purge, reinstall.
step "dpkg -r, --purge, reinstall"
in_root dpkg -r rampart >"$work/dpkg-remove.log" 2>&1 || { cat "$work/dpkg-remove.log" >&2; fail "dpkg -r"; }
[ ! -e "$root/usr/bin/rampart" ] && [ ! -e "$unit" ] || fail "dpkg -r left the binary or the unit"
[ -f "$root/var/lib/rampart/platform.db" ] && [ -f "$root/var/lib/rampart/master.key" ] || fail "dpkg -r removed the data"
pass "dpkg -r: binary and unit gone; /var/lib/rampart (platform.db, master.key) kept"
in_root dpkg --purge rampart >"$work/dpkg-purge.log" 2>&1 || { cat "$work/dpkg-purge.log" >&2; fail "dpkg --purge"; }
[ ! -e "$root/etc/rampart/rampart.toml" ] || fail "purge left the conffile"
[ -f "$root/var/lib/rampart/platform.db" ] || fail "purge removed the data"
leftover="$(in_root dpkg -S rampart 2>/dev/null || true)"
[ -z "$leftover" ] || fail "dpkg still lists files: $leftover"
pass "dpkg --purge: config gone, no files left registered; /var/lib/rampart kept"
in_root dpkg -i /tmp/rampart.deb >"$work/dpkg-reinstall.log" 2>&1 || { cat "$work/dpkg-reinstall.log" >&2; fail "reinstall"; }
again="$(as_rampart /usr/bin/rampart --config /etc/rampart/rampart.toml --data-dir /var/lib/rampart admin status --json)"
id1="$(jq -r .instance_id <<<"$instance")"; id2="$(jq -r .instance_id <<<"$again")"
[ "$id1" = "$id2" ] || fail "reinstall sees instance $id2, expected $id1"
pass "reinstall finds the kept data: same instance $id1"

echo "check-release: $passed checks passed (commit $commit, $(basename "$deb"))"

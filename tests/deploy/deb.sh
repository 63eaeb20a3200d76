#!/bin/sh
# The Debian package, end to end:
#   tests/deploy/deb.sh BUILD_DIR SOURCE_DIR
# builds it with cpack; checks its control fields (shared-library
# dependencies from dpkg-shlibdeps, systemd) and contents; asks apt whether
# this Debian can install it (`apt-get install --simulate ./limes_*.deb`:
# nothing is changed); installs it with dpkg into a throwaway root (its
# maintainer scripts run with DPKG_ROOT, so the limes user and folders are
# made inside that root, not on this machine); then runs the installed
# `limes --version`, `limes agent --help` (which must find limes-agent in
# the installed libexec folder) and `limes keygen` from that root.
set -eu
build=$1
src=$2
work=$(mktemp -d /tmp/limes-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

version=$(sed -n 's/^project(limes VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
[ -n "$version" ] || fail "no version in CMakeLists.txt"

# cpack installs the build into its staging folder and packs it
rm -f "$build"/pkg/limes_*.deb
(cd "$build" && cpack -G DEB >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack failed"; }
deb=$(ls "$build"/pkg/limes_"$version"_*.deb 2>/dev/null | head -n 1)
[ -f "$deb" ] || { cat "$work/cpack.log"; fail "no limes_${version}_*.deb in $build/pkg"; }
echo "built $deb ($(du -k "$deb" | cut -f1) KiB)"

# control fields
dpkg-deb -f "$deb" Package Version Architecture Depends | tee "$work/control"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libzmq5 libsodium23 libprotobuf-c1 libuv1 libsqlite3-0 libpq5 libmicrohttpd12 libjansson4 libinih1 libcurl4 libc6 systemd; do
	printf '%s\n' "$depends" | tr ',' '\n' | grep -q "^ *$lib\b" || fail "Depends lacks $lib: $depends"
done
dpkg-deb -f "$deb" Package | grep -qx limes || fail "package name"

# contents
dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' >"$work/contents"
for f in ./usr/bin/limes ./usr/libexec/limes/limes-agent ./usr/libexec/limes/limes-bench \
	./usr/lib/systemd/system/limes.service ./usr/lib/sysusers.d/limes.conf ./usr/lib/tmpfiles.d/limes.conf \
	./usr/share/man/man8/limes.8 ./usr/share/man/man5/limes.ini.5 \
	./usr/share/bash-completion/completions/limes ./usr/share/doc/limes/examples/limes.ini \
	./usr/share/doc/limes/operations.md ./usr/share/limes/prometheus/limes.rules.yml \
	./usr/share/limes/prometheus/grafana-dashboard.json; do
	grep -q " $f\$" "$work/contents" || fail "the package lacks $f"
done
grep -q '^-rwxr-xr-x root/root ./usr/bin/limes$' "$work/contents" || fail "usr/bin/limes is not root-owned 0755"
if grep -E ' \./(etc|var)/' "$work/contents"; then
	fail "the package ships files in /etc or /var (made by tmpfiles instead)"
fi

# each dependency is a package Debian's archive offers (a fresh machine gets it from there)
for pkg in $(printf '%s\n' "$depends" | tr ',' '\n' | sed 's/([^)]*)//; s/|.*//; s/ //g'); do
	apt-cache policy "$pkg" | grep -q 'Candidate: [0-9]' || fail "no installation candidate for dependency $pkg"
done
# apt on this machine resolves its dependencies (a simulation changes nothing)
# (without apt's lock: as root a simulation would take it, and fail while
# anything else installs packages on this machine)
apt-get install --simulate -o Debug::NoLocking=1 --no-install-recommends "$deb" >"$work/apt.log" 2>&1 || {
	cat "$work/apt.log"
	fail "apt-get install --simulate ./$(basename "$deb") failed"
}
grep -E '^(Inst|Conf) limes ' "$work/apt.log" || { cat "$work/apt.log"; fail "apt would not install limes"; }

# install into a throwaway root; maintainer scripts run outside it with DPKG_ROOT
root=$work/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/etc"
touch "$root/var/lib/dpkg/status"
dpkg --root="$root" --force-script-chrootless --force-depends --log=/dev/null -i "$deb" >"$work/dpkg.log" 2>&1 || {
	cat "$work/dpkg.log"
	fail "dpkg -i into $root failed"
}
dpkg --root="$root" -s limes | grep -q '^Status: install ok installed' || fail "dpkg does not list limes as installed"
grep -q '^limes:x:[0-9]*:[0-9]*:.*:/var/lib/limes:/usr/sbin/nologin$' "$root/etc/passwd" ||
	{ cat "$root/etc/passwd" 2>/dev/null; fail "postinst did not make the system user limes in the root"; }
uid=$(sed -n 's/^limes:x:\([0-9]*\):.*/\1/p' "$root/etc/passwd")
[ "$(stat -c '%a %u' "$root/var/lib/limes")" = "700 $uid" ] || fail "/var/lib/limes is not 0700 limes: $(stat -c '%a %u' "$root/var/lib/limes")"
[ "$(stat -c '%a %u' "$root/var/lib/limes/keys")" = "700 $uid" ] || fail "/var/lib/limes/keys is not 0700 limes"
[ "$(stat -c '%a %U' "$root/etc/limes")" = "750 root" ] || fail "/etc/limes is not 0750 root"
grep -qx 'ExecStart=/usr/bin/limes agent -c /etc/limes/limes.ini --syslog' "$root/usr/lib/systemd/system/limes.service" ||
	fail "the installed unit does not start /usr/bin/limes"
# the installed unit is as hardened as the source one
"$src/tests/deploy/unit_security.sh" "$root/usr/lib/systemd/system/limes.service" 2.0

# the installed programs run
out=$("$root/usr/bin/limes" --version) || fail "limes --version failed"
[ "$out" = "limes $version" ] || fail "limes --version printed '$out', not 'limes $version'"
echo "installed: $out"
"$root/usr/bin/limes" agent --help | grep -q 'usage: limes agent' || fail "limes agent did not find the installed limes-agent"
"$root/usr/bin/limes" keygen --dir "$work/keys" | grep -q '^limes1:' || fail "the installed limes keygen failed"
man -l "$root/usr/share/man/man8/limes.8" 2>/dev/null | grep -q 'secure store-and-forward' || fail "limes(8) does not render"
man -l "$root/usr/share/man/man5/limes.ini.5" 2>/dev/null | grep -q 'tls_cert' || fail "limes.ini(5) does not render"
bash -c ". /usr/share/bash-completion/bash_completion 2>/dev/null; . '$root/usr/share/bash-completion/completions/limes'; complete -p limes" |
	grep -q '_limes limes' || fail "the bash completion does not load"

# removal leaves no file of the package behind
dpkg --root="$root" --force-script-chrootless --log=/dev/null -r limes >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -r"; }
[ ! -e "$root/usr/bin/limes" ] || fail "dpkg -r left /usr/bin/limes"
echo "the .deb builds, installs into a throwaway root and runs"

#!/usr/bin/env bash
# Checks the Debian package built by scripts/package (run by .ci/run after it), or the
# .deb given as argument:
#  - dpkg-deb -c lists every shipped file with its mode;
#  - the control data: conffile, dependencies, maintainer scripts;
#  - lintian reports no error;
#  - installed into a throwaway root with `dpkg --root` (maintainer scripts included, run
#    against that root through DPKG_ROOT): `sauvegarde --version`, `man -l` of a page;
#    then the first commands of a new user, on the installed configuration, each exit 0:
#    `plugins` (the five plugins load from /usr/lib/sauvegarde/plugins), `config check`
#    (valid, no job yet), `config init --odoo-conf <fixture>` (a throwaway PostgreSQL
#    cluster with an Odoo-shaped database: it writes over the untouched packaged example,
#    and never over the file it wrote); an upgrade keeps an edited configuration; purge
#    removes /etc/sauvegarde and leaves the backups alone.
# The installed binary runs from the root with `--config <root>/etc/sauvegarde/…` and
# its directories moved into the root by SAUVEGARDE_* variables: nothing outside it is read
# or written (a chroot would need a whole system in the root).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "package test: $*" >&2
  exit 1
}

shopt -s nullglob
target=${CARGO_TARGET_DIR:-target}
if (($#)); then debs=("$1"); else debs=("$target"/debian/sauvegarde_*.deb); fi
((${#debs[@]} == 1)) || fail "expected one $target/debian/sauvegarde_*.deb (run scripts/package), found ${#debs[@]}"
deb=${debs[0]}
echo "package test: $deb"

# 1. Every file, with its mode.
listing=$(dpkg-deb -c "$deb")
expect() { # mode path
  local mode=$1 path=$2
  grep -Eq "^$mode +[^ ]+ +[0-9]+ [0-9-]+ [0-9:]+ \./$path\$" <<<"$listing" \
    || fail "$path with mode $mode is not in the package:
$listing"
}
expect -rwxr-xr-x usr/bin/sauvegarde
expect -rwxr-xr-x usr/bin/sauvegarde-dropbox-auth
for p in sftp ftp dropbox s3 webdav; do
  expect -rw-r--r-- "usr/lib/sauvegarde/plugins/libsauvegarde_$p.so"
done
expect -rw-r----- etc/sauvegarde/sauvegarde.toml
expect -rw-r--r-- "(usr/)?lib/systemd/system/sauvegarde.service"
for page in sauvegarde sauvegarde-backup sauvegarde-restore sauvegarde-verify sauvegarde-history \
  sauvegarde-jobs sauvegarde-daemon sauvegarde-config sauvegarde-config-init sauvegarde-config-check; do
  expect -rw-r--r-- "usr/share/man/man1/$page.1.gz"
done
expect -rw-r--r-- usr/share/bash-completion/completions/sauvegarde
expect -rw-r--r-- usr/share/zsh/vendor-completions/_sauvegarde
expect -rw-r--r-- usr/share/fish/vendor_completions.d/sauvegarde.fish
expect -rw-r--r-- usr/share/doc/sauvegarde/README.md
# The guide next to the README, as its links expect it (docs/…, docs/destinations/…).
for page in index install configuration exports retention-and-ownership verify-restore-drills \
  encryption notifications monitoring writing-an-exporter exit-codes; do
  expect -rw-r--r-- "usr/share/doc/sauvegarde/docs/$page.md"
done
for page in sftp ftp dropbox s3 webdav; do
  expect -rw-r--r-- "usr/share/doc/sauvegarde/docs/destinations/$page.md"
done
expect -rw-r--r-- usr/share/doc/sauvegarde/copyright

# 2. Control data.
info=$(dpkg-deb -I "$deb")
grep -q '^ Depends:.*postgresql-client' <<<"$info" || fail "no postgresql-client dependency: $info"
grep -q '^ Depends:.*libssl' <<<"$info" || fail "no libssl dependency: $info"
[[ $(dpkg-deb -f "$deb" Package) == sauvegarde ]] || fail "package name"
conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)
grep -qx /etc/sauvegarde/sauvegarde.toml <<<"$conffiles" || fail "not a conffile: $conffiles"

# 3. lintian: no error.
lintian --fail-on error --tag-display-limit 0 "$deb"

# 4. A throwaway root: install, upgrade, purge.
root=$(mktemp -d "${TMPDIR:-/tmp}/sauvegarde-pkgroot.XXXXXX")
# PostgreSQL (as `postgres`) must reach its cluster below the root.
chmod 0711 "$root"
mkdir -p "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info" "$root/var/lib/odoo/backups"
touch "$root/var/lib/dpkg/status"
echo "an archive" > "$root/var/lib/odoo/backups/prod_2026-01-01_02-30-00.zip"
dpkg_root() {
  # The package's dependencies are this machine's, not the empty root's. Maintainer
  # scripts run unchrooted with DPKG_ROOT=$root (ours and deb-systemd-helper honour it).
  dpkg --root="$root" --force-script-chrootless --force-depends --force-not-root \
    --log=/dev/null "$@" >"$root.log" 2>&1 || { cat "$root.log" >&2; fail "dpkg $*"; }
}
trap 'scripts/pg-cluster stop "$root/pg"; rm -rf "$root" "$root.log"' EXIT
dpkg_root -i "$deb"
# The unit is enabled in that root (not started: no systemd there, and no configuration yet).
[[ -L $root/etc/systemd/system/multi-user.target.wants/sauvegarde.service ]] \
  || fail "the unit was not enabled"

"$root/usr/bin/sauvegarde" --version | grep -q '^sauvegarde ' || fail "--version"
MANPAGER=cat man -l "$root/usr/share/man/man1/sauvegarde-backup.1.gz" | grep -q 'sauvegarde-backup' \
  || fail "man -l sauvegarde-backup.1.gz"
# Every command of --help has its page.
for c in $("$root/usr/bin/sauvegarde" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF {print $1}'); do
  [[ $c == help ]] && continue
  expect -rw-r--r-- "usr/share/man/man1/sauvegarde-$c.1.gz"
done
[[ -d $root/var/lib/sauvegarde ]] || fail "/var/lib/sauvegarde not created"
[[ $(stat -c %a "$root/var/lib/sauvegarde") == 700 ]] || fail "/var/lib/sauvegarde is not 0700"
# A new user's first commands, on the configuration as installed.
conf=$root/etc/sauvegarde/sauvegarde.toml
cmp -s "$conf" "$root/usr/share/doc/sauvegarde/examples/sauvegarde.toml" \
  || fail "the installed configuration is not the packaged example"
installed() { # sauvegarde ARGS...: the installed binary, its directories inside the root
  SAUVEGARDE_STATE_DIR=$root/var/lib/sauvegarde \
    SAUVEGARDE_BACKUP_DIR=$root/var/lib/odoo/backups \
    SAUVEGARDE_PLUGIN_DIRS="[\"$root/usr/lib/sauvegarde/plugins\"]" \
    "$root/usr/bin/sauvegarde" --config "$conf" "$@"
}
# The shipped plugins load (from the installed directory, not the build tree).
kinds=$(installed plugins --json \
  | python3 -c 'import json, sys; print(" ".join(sorted(p["kind"] for p in json.load(sys.stdin)["plugins"] if p.get("kind"))))') \
  || fail "sauvegarde plugins failed on the installed configuration"
[[ $kinds == "dropbox ftp s3 sftp webdav" ]] || fail "plugins loaded from the package: '$kinds'"
check=$(installed config check 2>&1) || fail "config check failed on the installed configuration: $check"
grep -q "warning: the configuration has no job" <<<"$check" || fail "config check: no 'no job' warning: $check"
# config init, from a fixture odoo.conf naming a throwaway cluster with one Odoo database.
port=$(scripts/pg-cluster start "$root/pg")
psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c 'CREATE DATABASE shop' \
  && psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d shop -v ON_ERROR_STOP=1 -c \
    "CREATE TABLE ir_module_module (name varchar, state varchar, latest_version varchar);
     INSERT INTO ir_module_module VALUES ('base', 'installed', '17.0.1.3')" \
  || fail "cannot create the fixture database"
mkdir -p "$root/fixture/odoo-data"
printf '[options]\ndb_host = 127.0.0.1\ndb_port = %s\ndb_user = postgres\ndb_password = False\ndata_dir = %s\n' \
  "$port" "$root/fixture/odoo-data" > "$root/fixture/odoo.conf"
init=$(installed config init --odoo-conf "$root/fixture/odoo.conf" --output "$conf" \
  --backup-dir "$root/var/lib/odoo/backups" --state-dir "$root/var/lib/sauvegarde" 2>&1) \
  || fail "config init failed over the packaged example: $init"
grep -q "in place of the untouched packaged example" <<<"$init" || fail "config init: $init"
grep -q '^\[jobs.shop\]' "$conf" || fail "config init wrote no job for shop: $(cat "$conf")"
[[ $(stat -c %a "$conf") == 640 ]] || fail "config init wrote $conf with mode $(stat -c %a "$conf")"
# Now it is the admin's file: never written over.
before=$(sha256sum <"$conf")
if again=$(installed config init --odoo-conf "$root/fixture/odoo.conf" --output "$conf" 2>&1); then
  fail "config init wrote over its own configuration: $again"
fi
grep -q "already exists" <<<"$again" || fail "config init refused without saying why: $again"
[[ $(sha256sum <"$conf") == "$before" ]] || fail "a refused config init changed $conf"
scripts/pg-cluster stop "$root/pg"

# Upgrade (the same package again): the edited configuration is kept.
echo "# edited by the admin" >> "$root/etc/sauvegarde/sauvegarde.toml"
dpkg_root --force-confold -i "$deb"
grep -q "edited by the admin" "$root/etc/sauvegarde/sauvegarde.toml" || fail "upgrade lost the configuration"

# Purge: configuration and history gone, backups untouched.
dpkg_root --purge sauvegarde
[[ ! -e $root/etc/sauvegarde ]] || fail "purge left /etc/sauvegarde"
[[ ! -e $root/usr/bin/sauvegarde ]] || fail "purge left /usr/bin/sauvegarde"
[[ ! -e $root/var/lib/sauvegarde ]] || fail "purge left the history in /var/lib/sauvegarde"
[[ ! -e $root/etc/systemd/system/multi-user.target.wants/sauvegarde.service ]] || fail "purge left the unit enabled"
[[ -f $root/var/lib/odoo/backups/prod_2026-01-01_02-30-00.zip ]] || fail "purge touched the backups"

echo "package test: OK ($(dpkg-deb -c "$deb" | wc -l) entries, lintian clean of errors)"

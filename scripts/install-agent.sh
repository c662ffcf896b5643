#!/usr/bin/env bash
# Installs (or removes) the Tripwarden agent executable as a systemd service.
#
#   install-agent.sh --exe dist/tripwarden-agent [--name NAME] [--prefix DIR]
#                    (--config-src FILE | --server wss://HOST:PORT)
#                    [--token T --ca-sha256 FP] [--root DIR] [--dry-run]
#   install-agent.sh --uninstall [--name NAME] [--prefix DIR] [--purge] [--root DIR] [--dry-run]
#
# Puts the executable at PREFIX/NAME (0700 root), the config at
# /etc/NAME/agent.yml (0600), the unit at /etc/systemd/system/NAME.service
# (ExecStart, StateDirectory rewritten for NAME), enrolls with --token when the
# host has no certificate yet, then daemon-reload and enable --now (a restart
# when the executable or config changed). Running it again with the same
# input changes nothing and says so. --dry-run prints every action instead of
# doing it. --root DIR installs into a staging tree and runs neither systemctl
# nor enroll. --uninstall keeps the state dir (key, spool) unless --purge.
# Every install run ends by checking that the unit is enabled and active, and
# repairs it if not (an earlier run that enrolled but failed at systemctl);
# exit 1 with one line saying what to do if it still is not, 2 on bad input.
set -euo pipefail

die() { printf 'install-agent: error: %s\n' "$*" >&2; exit 2; }
fail() { printf 'install-agent: error: %s\n' "$*" >&2; exit 1; }
say() { printf 'install-agent: %s\n' "$*"; }
usage() { sed -n '2,20s/^# \{0,1\}//p' "$0"; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exe_src='' name='tripwarden-agent' prefix='/usr/local/sbin' config_src='' server='' token='' ca_sha256=''
root='' dry_run=0 uninstall=0 purge=0 unit_src="$script_dir/tripwarden-agent.service"

while (($#)); do
  case "$1" in
    --exe) exe_src=${2:?--exe needs a path}; shift 2 ;;
    --name) name=${2:?--name needs a value}; shift 2 ;;
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --config-src) config_src=${2:?--config-src needs a file}; shift 2 ;;
    --server) server=${2:?--server needs a URL}; shift 2 ;;
    --token) token=${2:?--token needs a value}; shift 2 ;;
    --ca-sha256) ca_sha256=${2:?--ca-sha256 needs a fingerprint}; shift 2 ;;
    --unit-src) unit_src=${2:?--unit-src needs a file}; shift 2 ;;
    --root) root=${2:?--root needs a directory}; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    --uninstall) uninstall=1; shift ;;
    --purge) purge=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

[[ $name =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$ ]] || die "--name '$name' must be letters, digits, '_', '.', '-' (it names a unit and /etc/$name)"
[[ $prefix == /* ]] || die "--prefix '$prefix' must be an absolute path"
prefix=${prefix%/}
if [[ -n $root ]]; then
  [[ -d $root ]] || die "--root '$root' is not a directory"
  root=$(cd "$root" && pwd)
fi
if ((!dry_run)) && [[ -z $root ]] && ((EUID != 0)); then
  die 'must run as root (or use --dry-run, or --root DIR for a staging tree)'
fi

exe="$prefix/$name"
config_dir="/etc/$name"
config="$config_dir/agent.yml"
unit="/etc/systemd/system/$name.service"
state_dir="/var/lib/$name"
changed=0

# show PREFIX CMD...: prints a command line, the enrollment token masked.
show() {
  local prefix=$1 arg mask=0; shift
  printf '%s' "$prefix"
  for arg in "$@"; do
    if ((mask)); then printf ' ***'; mask=0; continue; fi
    [[ $arg == --token ]] && mask=1
    printf ' %q' "$arg"
  done
  printf '\n'
}
# Every change goes through act: printed under --dry-run, done otherwise.
act() {
  if ((dry_run)); then show 'would run:' "$@"; else "$@"; fi
}
# Commands that touch the running system, not files: skipped in a staging root.
is_staging() { [[ -n $root ]] && ((!dry_run)); }
live() {
  if is_staging; then show 'skipped (--root):' "$@"; else act "$@"; fi
}
owner_args() { if ((EUID == 0)); then printf '%s\n' -o 0 -g 0; fi; }

# put_file MODE DEST SRC WHAT: installs SRC at ROOT/DEST unless identical (content and mode).
put_file() {
  local mode=$1 dest=$2 src=$3 what=$4 target="$root$2"
  if [[ -f $target ]] && cmp -s "$src" "$target" && [[ $(stat -c %a "$target") == "${mode#0}" ]]; then
    say "unchanged: $dest"
    return 0
  fi
  changed=1
  if ((dry_run)); then
    say "would write: $target (mode $mode, root) from $what"
    return 0
  fi
  local -a owner; mapfile -t owner < <(owner_args)
  install -D "${owner[@]}" -m "$mode" "$src" "$target"
  say "installed: $dest (mode $mode)"
}

# put_dir MODE DIR: creates ROOT/DIR with MODE, or fixes the mode of our own dir.
put_dir() {
  local mode=$1 target="$root$2"
  if [[ -d $target && $(stat -c %a "$target") == "${mode#0}" ]]; then return 0; fi
  local -a owner; mapfile -t owner < <(owner_args)
  act install -d "${owner[@]}" -m "$mode" "$target"
  changed=1
}

remove() {
  local target="$root$1"
  if [[ -e $target ]]; then act rm -rf -- "$target"; ((dry_run)) || say "removed: $1"; changed=1
  else say "absent: $1"; fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ((uninstall)); then
  if [[ -z $root ]] && command -v systemctl >/dev/null && systemctl cat "$name.service" >/dev/null 2>&1; then
    live systemctl disable --now "$name.service"
  fi
  remove "$unit"
  remove "$exe"
  remove "$config_dir"
  if ((purge)); then remove "$state_dir"; else say "kept: $state_dir (key, certificate, spool; --purge removes it)"; fi
  if ((changed)); then live systemctl daemon-reload; say 'uninstalled'; else say 'nothing to uninstall'; fi
  exit 0
fi

# --- install ---
[[ -n $exe_src ]] || die 'missing --exe PATH_OF_BUILT_AGENT'
[[ -f $exe_src && -x $exe_src ]] || die "--exe '$exe_src' is not an executable file (build it: npm run build:agent)"
[[ -f $unit_src ]] || die "unit template '$unit_src' not found"
if [[ -n $config_src && -n $server ]]; then die 'give --config-src FILE or --server URL, not both'; fi
if [[ -z $config_src && -z $server ]]; then die 'missing --config-src FILE or --server wss://HOST:PORT'; fi
if [[ -n $token && -z $ca_sha256 ]]; then die '--token needs --ca-sha256 FP (printed by the server init)'; fi
version=$("$exe_src" --version 2>/dev/null) || die "'$exe_src --version' failed: not a Tripwarden agent executable?"

# Config: copied, or written from --server. Either way the agent may only
# write its StateDirectory (ProtectSystem=strict), so stateDir must be it.
if [[ -n $config_src ]]; then
  [[ -f $config_src ]] || die "--config-src '$config_src' not found"
  cfg_state=$(sed -n 's/^stateDir:[[:space:]]*\([^#[:space:]]*\).*/\1/p' "$config_src" | tail -n 1)
  if [[ ${cfg_state:-/var/lib/tripwarden-agent} != "$state_dir" ]]; then
    die "$config_src has stateDir ${cfg_state:-(default /var/lib/tripwarden-agent)}; the unit lets the agent write only $state_dir: set 'stateDir: $state_dir'"
  fi
  server=$(sed -n 's/^server:[[:space:]]*\([^#[:space:]]*\).*/\1/p' "$config_src" | tail -n 1)
  cp -- "$config_src" "$tmp/agent.yml"
else
  [[ $server =~ ^wss://[^/[:space:]]+$ ]] || die "--server '$server' must be wss://HOST:PORT"
  printf 'server: %s\nstateDir: %s\n' "$server" "$state_dir" >"$tmp/agent.yml"
fi

# Unit: the template with this executable, config, state dir and name.
sed -e "s#^ExecStart=.*#ExecStart=$exe run --config $config#" \
    -e "s#^StateDirectory=.*#StateDirectory=$name#" \
    -e "s#^Description=.*#Description=Tripwarden host-integrity agent ($name)#" \
    "$unit_src" >"$tmp/unit"

was_active=0
if [[ -z $root ]] && command -v systemctl >/dev/null && systemctl is-active --quiet "$name.service" 2>/dev/null; then
  was_active=1
fi

say "agent $version from $exe_src as $name${root:+ under $root}"
if ((dry_run)); then say 'dry run: printing actions, changing nothing'; fi
# The prefix (e.g. /usr/local/sbin) is shared: create it if missing, never chmod it.
[[ -d $root$prefix ]] || act install -d -m 0755 "$root$prefix"
put_file 0700 "$exe" "$exe_src" "$exe_src"
put_dir 0700 "$config_dir"
put_file 0600 "$config" "$tmp/agent.yml" "${config_src:-a config for $server}"
put_file 0644 "$unit" "$tmp/unit" "$unit_src (ExecStart, StateDirectory for $name)"
put_dir 0700 "$state_dir"

if [[ -n $token ]]; then
  if [[ -f $root$state_dir/agent.crt ]]; then
    say "already enrolled ($state_dir/agent.crt exists): token not used"
  elif is_staging; then
    show 'skipped (--root):' "$exe" enroll --server "$server" --token "$token" --ca-sha256 "$ca_sha256" --config "$config"
  else
    act "$exe" enroll --server "$server" --token "$token" --ca-sha256 "$ca_sha256" --config "$config"
    changed=1
  fi
fi

# unit_state: "ENABLED ACTIVE" as systemctl reports them ("unknown" when it cannot tell).
unit_state() {
  local en ac
  en=$(systemctl is-enabled "$name.service" 2>/dev/null) || true
  ac=$(systemctl is-active "$name.service" 2>/dev/null) || true
  printf '%s %s\n' "${en:-unknown}" "${ac:-unknown}"
}
# systemd: runs a systemctl command; a failure is reported by the check after it.
systemd() {
  if ! systemctl "$@" >"$tmp/systemctl.out" 2>&1; then
    say "systemctl $* failed: $(tr '\n' ' ' <"$tmp/systemctl.out")"
    return 1
  fi
}

if is_staging || ((dry_run)); then
  if ((changed)); then
    live systemctl daemon-reload
    live systemctl enable --now "$name.service"
    if ((was_active)); then live systemctl restart "$name.service"; fi
    ((dry_run)) || say "installed $name"
  else
    say "nothing changed: $name is installed as requested"
  fi
  exit 0
fi

# Live: whatever the files say, the run succeeds only with the unit enabled
# and active, so a re-run after a failed start repairs it instead of
# reporting "nothing changed".
again="then run this script again (it repairs what is missing)"
if ! command -v systemctl >/dev/null; then
  fail "systemctl not found: $name.service was installed but not started; install systemd (the agent must run under it), $again"
fi
if [[ ! -d /run/systemd/system ]]; then
  fail "systemd is not running on this host (no /run/systemd/system): $name.service was installed but not started; boot with systemd, $again"
fi
if ((changed)); then
  systemd daemon-reload || true
  # enable --now starts a stopped unit but leaves a running one on the old binary.
  if systemd enable --now "$name.service" && ((was_active)); then systemd restart "$name.service" || true; fi
fi
read -r enabled active < <(unit_state)
if [[ $enabled != enabled || $active != active ]]; then
  say "repairing: $name.service is $enabled and $active"
  systemd daemon-reload || true
  systemd enable --now "$name.service" || true
  read -r enabled active < <(unit_state)
fi
if [[ $enabled != enabled || $active != active ]]; then
  fail "$name.service is $enabled and $active, not enabled and active: read 'journalctl -u $name.service', fix the cause, $again"
fi
if ((changed)); then
  say "installed $name; $name.service is enabled and active"
else
  say "nothing changed: $name is installed as requested; $name.service is enabled and active"
fi

#!/usr/bin/env bash
# Installs the KruxOS gateway appliance:
#   <root>/opt/kruxos/lib/<program>/   published programs (framework-dependent unless --self-contained)
#   <root>/opt/kruxos/bin/             launchers: kruxos-gateway, kruxos, mcp-bridge, cli-hook
#   <root>/etc/kruxos/gateway.json     default configuration (kept if it already exists)
#   <root>/etc/systemd/system/kruxos-gateway.service, kruxos-backup.service + kruxos-backup.timer (nightly backup)
#   <root>/data/kruxos/                data directory (0700)
# On a real install (no --root) it also installs the system packages the sandbox needs (bubblewrap, git),
# enables and starts the unit, waits until the gateway is healthy, and runs `kruxos setup` for the user who
# ran sudo (or --user NAME): the default agent, the user tokens, auth-socket access and that user's client configs.
# Usage: appliance/install.sh [--root DIR] [--self-contained] [--configuration Release|Debug]
#                             [--user NAME] [--no-start] [--no-packages] [--no-restore]
# With no --root it installs into / and must run as root.
set -euo pipefail

root="/"
self_contained="false"
configuration="Release"
setup_user="${SUDO_USER:-}"
start="true"
packages="true"
restore="true"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --root) root="$2"; shift 2 ;;
    --self-contained) self_contained="true"; shift ;;
    --configuration) configuration="$2"; shift 2 ;;
    --user) setup_user="$2"; shift 2 ;;
    --no-start) start="false"; shift ;;
    --no-packages) packages="false"; shift ;;
    --no-restore) restore="false"; shift ;; # publish from an earlier restore (e.g. after `dotnet build`), offline
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
if [[ "$setup_user" == "root" ]]; then setup_user=""; fi

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="$(mkdir -p "$root" && cd "$root" && pwd)"
if [[ "$root" == "/" && "$(id -u)" != "0" ]]; then
  echo "install.sh: installing into / needs root (or pass --root DIR)" >&2
  exit 1
fi

# System packages: the kernel sandbox runs every filesystem, process and git capability inside bubblewrap
# (setpriv comes with util-linux, which Debian always has), and git capabilities need git.
required=(bwrap:bubblewrap git:git setpriv:util-linux)
missing=()
for entry in "${required[@]}"; do
  command -v "${entry%%:*}" >/dev/null 2>&1 || missing+=("${entry#*:}")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ "$root" == "/" && "$packages" == "true" ]] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
  elif [[ "$root" == "/" ]]; then
    echo "install.sh: missing system packages: ${missing[*]} (install them: apt-get install -y ${missing[*]})" >&2
    exit 1
  else
    echo "warning: this machine lacks ${missing[*]}; the target system needs them (apt-get install -y ${missing[*]})" >&2
  fi
fi

prefix="$root/opt/kruxos"
mkdir -p "$prefix/bin" "$prefix/lib" "$prefix/share" "$root/etc/kruxos" "$root/etc/systemd/system" "$root/data/kruxos"
chmod 0700 "$root/data/kruxos"

publish() { # project, output folder name
  local project="$1" name="$2"
  # --disable-build-servers: an install leaves no MSBuild nodes or compiler servers running behind it.
  local args=(publish "$repo/$project" -c "$configuration" -o "$prefix/lib/$name" --nologo -v quiet --disable-build-servers -p:UseAppHost=false)
  if [[ "$self_contained" == "true" ]]; then args+=(--self-contained true -r linux-x64 -p:UseAppHost=true); fi
  if [[ "$restore" == "false" ]]; then args+=(--no-restore); fi
  dotnet "${args[@]}"
}

echo "Publishing the gateway, the CLI, mcp-bridge and cli-hook ($configuration)..."
publish src/KruxOS.Gateway/KruxOS.Gateway.csproj gateway
publish src/KruxOS.Cli/KruxOS.Cli.csproj cli
publish src/KruxOS.Bridge/KruxOS.Bridge.csproj mcp-bridge
publish src/KruxOS.CliHook/KruxOS.CliHook.csproj cli-hook

launcher() { # name, lib folder, dll, [config: read the installed gateway.json unless KRUXOS_CONFIG_FILE is set]
  local name="$1" folder="$2" dll="$3" config="${4:-}"
  local read_config=""
  if [[ -n "$config" ]]; then
    # The gateway, the CLI and the bridge read the installed configuration when they can (root: it is 0600), so
    # `kruxos status` finds the control socket (Gateway:ControlSocket, /run/kruxos/control.sock) and mcp-bridge finds
    # the gateway's CA with no environment. Other users find the CA in /run/kruxos instead.
    read_config='root="$(cd "$here/../.." && pwd)"
if [[ -z "${KRUXOS_CONFIG_FILE:-}" && -r "${root%/}/etc/kruxos/gateway.json" ]]; then export KRUXOS_CONFIG_FILE="${root%/}/etc/kruxos/gateway.json"; fi'
  fi
  cat > "$prefix/bin/$name" <<LAUNCHER
#!/usr/bin/env bash
# KruxOS launcher: resolves its own install prefix, so the tree can be relocated.
here="\$(cd "\$(dirname "\$(readlink -f "\${BASH_SOURCE[0]}")")/.." && pwd)"
$read_config
if [[ -x "\$here/lib/$folder/${dll%.dll}" ]]; then exec "\$here/lib/$folder/${dll%.dll}" "\$@"; fi
exec dotnet "\$here/lib/$folder/$dll" "\$@"
LAUNCHER
  chmod 0755 "$prefix/bin/$name"
}
launcher kruxos-gateway gateway kruxos-gateway.dll config
launcher kruxos cli kruxos.dll config
launcher mcp-bridge mcp-bridge mcp-bridge.dll config

# cli-hook's launcher does not exec: Claude Code and Codex block a tool only on exit 2 (or a deny on stdout),
# and treat every other failure as "go ahead". Exit codes other than 0 and 2 (4: no token, a crash, a missing
# runtime) are therefore turned into 2 after the hook has written its reason to stderr: it never fails open.
cat > "$prefix/bin/cli-hook" <<'LAUNCHER'
#!/usr/bin/env bash
# KruxOS cli-hook launcher (PreToolUse hook of Claude Code and Codex); fails closed.
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
if [[ -x "$here/lib/cli-hook/cli-hook" ]]; then "$here/lib/cli-hook/cli-hook" "$@"; else dotnet "$here/lib/cli-hook/cli-hook.dll" "$@"; fi
code=$?
case "$code" in
  0|2) exit "$code" ;;
  *) echo "cli-hook: exited with code $code; the tool call is blocked" >&2; exit 2 ;;
esac
LAUNCHER
chmod 0755 "$prefix/bin/cli-hook"

if [[ ! -f "$root/etc/kruxos/gateway.json" ]]; then
  install -m 0600 "$repo/appliance/config/gateway.json" "$root/etc/kruxos/gateway.json"
fi
install -m 0644 "$repo/appliance/kruxos-gateway.service" "$root/etc/systemd/system/kruxos-gateway.service"
install -m 0644 "$repo/appliance/kruxos-backup.service" "$root/etc/systemd/system/kruxos-backup.service"
install -m 0644 "$repo/appliance/kruxos-backup.timer" "$root/etc/systemd/system/kruxos-backup.timer"
install -m 0644 "$repo/README.md" "$prefix/share/README.md"

echo "Installed into $root"
echo "  programs: $prefix/bin/kruxos-gateway, $prefix/bin/kruxos, $prefix/bin/mcp-bridge, $prefix/bin/cli-hook"
echo "  data:     $root/data/kruxos"

if [[ "$root" != "/" ]]; then
  exit 0
fi
if [[ "$start" != "true" || ! -d /run/systemd/system ]] || ! command -v systemctl >/dev/null 2>&1; then
  echo "Start it with: systemctl enable --now kruxos-gateway kruxos-backup.timer"
  echo "Then, as root: kruxos setup${setup_user:+ --user $setup_user}"
  exit 0
fi

systemctl daemon-reload
systemctl enable --now kruxos-gateway
systemctl enable --now kruxos-backup.timer
echo -n "Waiting for the gateway to be healthy"
healthy=""
for _ in $(seq 1 120); do
  if "$prefix/bin/kruxos" status --json >/dev/null 2>&1; then healthy="yes"; break; fi
  echo -n "."
  sleep 1
done
echo
if [[ -z "$healthy" ]]; then
  echo "install.sh: the gateway did not answer on its control socket within 2 minutes: journalctl -u kruxos-gateway" >&2
  exit 1
fi
"$prefix/bin/kruxos" verify || echo "warning: kruxos verify reports a failing check (see above)" >&2

if [[ -n "$setup_user" ]]; then
  "$prefix/bin/kruxos" setup --non-interactive --user "$setup_user" --write-configs
else
  "$prefix/bin/kruxos" setup --non-interactive --no-user
  echo "To let a desktop user run Claude Code or Codex against this gateway: kruxos setup --non-interactive --user NAME --write-configs"
fi

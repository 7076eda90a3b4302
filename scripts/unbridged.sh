# unbridged <event>: true when no bridge session on this machine can be the caller's, so the hook can answer `{}` and
# the monitor can keep waiting without starting Python. Sourced by scripts/hook and scripts/monitor; builtins only,
# no fork. It mirrors bridge/sessions.py current() and, when unsure, says "maybe bridged" (false).
unbridged() {  # true: answer {} without the CLI
  bridge=${BRIDGE_DIR:-$HOME/.claude/session-bridge}
  case $bridge in "~" | "~/"*) bridge=$HOME${bridge#"~"} ;; esac  # layout.bridge_dir() expands ~
  if [ "$1" = pre-tool-use ]; then
    # The no-auto-commit guard denies only where auto-mode drives a session (policy.auto_driven): a run it started
    # (BRIDGE_AUTO; always to the CLI, which fails closed), a role it wakes (its settings exist), or a session
    # acting on a wake (.woken). With none of them here, no session can be driven; else the usual rule follows.
    [ "$BRIDGE_AUTO" = 1 ] && return 1
    if [ ! -e "$bridge/rooms/settings.json" ]; then
      for f in "$bridge"/sessions/*/.woken; do [ -e "$f" ] && break; done
      [ -e "$f" ] || return 0
    fi
  fi
  found=  # no session on the machine: none can be ours (the glob skips dot-entries, the registry's own files)
  for e in "$bridge"/sessions/*; do [ -e "$e" ] && { found=1; break; }; done
  [ -n "$found" ] || return 0
  if [ "$1" = background-listen ]; then
    # Only a session with background listening on can be woken, and the core keeps this flag for each such
    # session: none on the machine, nothing to wait for. (Which session is ours is Python's job.)
    for f in "$bridge"/sessions/*/.background-listen; do [ -e "$f" ] && return 1; done
    return 0
  fi
  [ -z "$BRIDGE_SESSION_ID" ] || return 1  # current() trusts it first
  d=${PROJECT_DIR:-$CLAUDE_PROJECT_DIR}
  case $d in
    /*) ;;
    *) cd -P . 2>/dev/null || return 1; d=$PWD${d:+/$d} ;;  # physical, like os.getcwd()
  esac
  # A session is ours only if its project is this directory or a parent of it (current() finds it by the
  # pointer, by the agent's process or by the manifest, all within that rule). Each session dir holds its
  # projectPath in .project; one without (the reference's, an older one) may be ours.
  for s in "$bridge"/sessions/*; do
    [ -d "$s" ] || continue
    [ -f "$s/.project" ] || return 1
    IFS= read -r p <"$s/.project" || return 1
    case $p in /) return 1 ;; esac
    case "$d/" in "$p"/*) return 1 ;; esac
  done
  # a pointer file here or in a parent names a session that may be ours
  while :; do
    [ -e "$d/.claude/bridge-session" ] && return 1
    [ -n "$d" ] && [ "$d" != / ] || return 0
    d=${d%/*}
  done
}

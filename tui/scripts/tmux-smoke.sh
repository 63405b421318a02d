#!/usr/bin/env bash
# End-to-end smoke run of the admin TUI in a real terminal (tmux): first-run setup,
# create a user, write a backup; on the Orgs screen create an org, set a workspace limit,
# open it and add the user as org admin, delete it; see the LLM facts and clear the cache on
# the Maintenance screen; set an allowance and deduct credits on the Credits screen; quit;
# then check the terminal came back in cooked mode.
#
# Usage: tui/scripts/tmux-smoke.sh [command...]
#   default command: target/debug/examples/demo --empty   (build it first:
#   cargo build -p rampart-tui --example demo)
#   for the appliance: tui/scripts/tmux-smoke.sh target/debug/rampart admin --data-dir DIR
# Env: BACKUP_DIR (default: a new temp dir), KEEP=1 keeps the tmux session for a look.
set -euo pipefail

cmd=("$@")
if [ ${#cmd[@]} -eq 0 ]; then cmd=(target/debug/examples/demo --empty); fi
backup_dir=${BACKUP_DIR:-$(mktemp -d)}
session="rampart-tui-smoke-$$"
printf -v quoted '%q ' "${cmd[@]}"

cleanup() { [ "${KEEP:-0}" = 1 ] || tmux kill-session -t "$session" 2>/dev/null || true; }
trap cleanup EXIT

tmux new-session -d -s "$session" -x 100 -y 30 \
  "$quoted; echo \"EXITED rc=\$?\"; stty -a | grep -o -- '-\\?icanon\\b'; sleep 300"

screen() { tmux capture-pane -p -t "$session"; }
send() { tmux send-keys -t "$session" "$@"; sleep 0.15; }
type_line() { tmux send-keys -t "$session" -l -- "$1"; sleep 0.1; send Enter; }
wait_for() {
  local needle=$1 deadline=$((SECONDS + ${2:-15}))
  until screen | grep -qF -- "$needle"; do
    if [ $SECONDS -ge $deadline ]; then
      echo "FAIL: '$needle' did not appear; screen was:" >&2
      screen >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "ok: $needle"
}

wait_for "First-run setup"
send Enter
wait_for "Create first superadmin"
type_line "root@example.test"
type_line "Rita Root"
type_line "Adm1n-Secret-pw"
type_line "Adm1n-Secret-pw"
wait_for "Setup complete"
send Enter
wait_for "root@example.test"

send n
wait_for "New user"
type_line "bob@example.test"
type_line "Bob Builder"
type_line "Bob-Secret-pw1"
type_line "Bob-Secret-pw1"
send Right
send Enter
wait_for "Created bob@example.test (Admin)"

send 3
wait_for "Signed backup"
send b
wait_for "Create signed backup"
send C-u
type_line "$backup_dir"
wait_for "Backup written to" 120
send Enter

send 5
wait_for "No organizations"
send n
wait_for "New organization"
type_line "Acme Corp"
type_line ""
type_line "Payments and platform"
wait_for "Created organization Acme Corp (acme-corp)."
send e
wait_for "Edit organization"
send Tab
send Tab
send C-u
type_line "3"
send Enter
wait_for "Updated acme-corp: max workspaces 3."
wait_for "0 / 3"
send Enter
wait_for "Organization acme-corp"
wait_for "Payments and platform"
send a
wait_for "Add org member"
type_line "bob@example.test"
send Right
send Enter
wait_for "bob@example.test is Org admin of acme-corp."
wait_for "Members (1)"
send Escape
wait_for "Organizations (1)"
send d
wait_for "Delete organization"
type_line "acme-corp"
wait_for "Deleted organization acme-corp"
wait_for "No organizations"

# Maintenance screen: LLM cache, usage and master key facts from the real backend; clear
# the (empty) cache after the confirmation.
send 6
wait_for "LLM and keys"
wait_for "Master key  none"
send x
wait_for "Clear every user's cached LLM answers?"
send Enter
wait_for "Removed 0 cached LLM answers."

# Credits screen: the first superadmin's allowance set to 100, then 5 deducted with a note
# (the real credit service: audited like `rampart admin credits`).
send 8
wait_for "Credits this month (2 users, 0 org pools)"
wait_for "root@example.test"
send a
wait_for "Set monthly allowance"
type_line "100"
type_line "pilot"
wait_for "Monthly allowance of root@example.test set to 100 credits."
wait_for "100         0        100"
send c
wait_for "Add or deduct credits"
type_line "-5"
type_line "trial over"
wait_for "-5 credits from root@example.test (reason: trial over)."
wait_for "100         0        95"

send q
wait_for "EXITED rc=0"
if screen | grep -q -- '-icanon'; then
  echo "FAIL: terminal left in raw mode" >&2
  exit 1
fi
echo "ok: terminal restored"
echo "PASS"

#!/usr/bin/env bash
# A picture of the pack's Risk Detection layout: its "Incident Summary" tab drawn from the layout
# JSON (scripts/render_layout.py) with the values of one incident fetched from the emulator, then
# screenshotted in headless Chromium at 1280x900.
#
#   bash scripts/render-layout.sh [OUT]      # OUT defaults to docs/images/layout-risk-detection.png
#
# Builds the pack (xsoar/build-pack.sh) and target/debug/azure-ad-identity-protection (set BIN=path
# to use another binary), starts `emulator --port 0`, runs fetch-incidents with risky users on and
# mirroring both ways, picks the first risk detection still at risk with coordinates, runs
# get-remote-data on it as XSOAR's first incoming mirror would (that adds the user's risk), draws,
# screenshots, stops the emulator. Set HTML=path to keep the drawn page.
# Needs chromium and jq (Debian: `apt-get install chromium jq`); CHROMIUM=path picks another browser
# binary. A developer tool: CI does not run it.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$repo/docs/images/layout-risk-detection.png}
chromium=${CHROMIUM:-/usr/bin/chromium}
layout_file=layoutscontainer-Azure_AD_Identity_Protection_Risk_Detection_Layout.json

need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    echo "render-layout: $1 is missing; install it with: apt-get install --no-install-recommends $2" >&2
    exit 1
}
need "$chromium" chromium
need jq jq

work=$(mktemp -d)
emulator_pid=
stop() {
    if [ -n "$emulator_pid" ]; then kill "$emulator_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap stop EXIT

bash "$repo/xsoar/build-pack.sh" "$work/pack-out" >/dev/null
pack="$work/pack-out/Packs/AzureADIdentityProtection"
python="$repo/target/xsoar-build-venv/bin/python"

bin=${BIN:-}
if [ -z "$bin" ]; then
    cargo build --quiet --manifest-path "$repo/Cargo.toml"
    bin="${CARGO_TARGET_DIR:-$repo/target}/debug/azure-ad-identity-protection"
fi

# The emulator's first stdout line is one JSON object with the parameters a host needs.
"$bin" emulator --port 0 >"$work/emulator.out" 2>"$work/emulator.err" &
emulator_pid=$!
for _ in $(seq 100); do
    [ -s "$work/emulator.out" ] && break
    kill -0 "$emulator_pid" 2>/dev/null || { cat "$work/emulator.err" >&2; exit 1; }
    sleep 0.1
done
params=$(head -n 1 "$work/emulator.out" | jq -ce '.params + {fetch_risky_users: "true",
        first_fetch: "2000-01-01", mirror_direction: "Incoming And Outgoing"}') \
    || { echo "render-layout: the emulator printed no parameters" >&2; cat "$work/emulator.err" >&2; exit 1; }

run() { # COMMAND ARGS-JSON: one invocation of the binary as the bridge makes it
    jq -nc --arg command "$1" --argjson args "$2" --argjson params "$params" \
        '{command: $command, args: $args, params: $params, context: {}, last_run: {}, instance_name: "demo"}' \
        | "$bin" 2>>"$work/binary.err" || { cat "$work/binary.err" >&2; exit 1; }
}

run fetch-incidents '{}' >"$work/fetched.json"
jq -e 'first(.incidents[] | select(.rawJSON | fromjson
        | .entra_object_type == "riskDetection" and .riskState == "atRisk" and .location.geoCoordinates != null))' \
    "$work/fetched.json" >"$work/incident.json" \
    || { echo "render-layout: the fetch returned no risk detection at risk with coordinates" >&2; exit 1; }
id=$(jq -r '.dbotMirrorId' "$work/incident.json")
# XSOAR's incoming mirror maps the object get-remote-data returns, as it mapped the fetched one.
run get-remote-data "$(jq -nc --arg id "$id" '{id: $id, lastUpdate: "0"}')" >"$work/mirrored.json"
jq --slurpfile m "$work/mirrored.json" '.rawJSON = ($m[0].entries[0].Contents | tojson)' \
    "$work/incident.json" >"$work/incident-mirrored.json"

html=${HTML:-$work/layout.html}
"$python" "$repo/scripts/render_layout.py" "$pack" "$pack/Layouts/$layout_file" "$work/incident-mirrored.json" \
    "$html" --note ", fetched from the emulator and mirrored in once (get-remote-data)" >/dev/null

mkdir -p "$(dirname "$out")"
# A fresh profile: no cache, no state from an earlier run.
timeout 60 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --no-proxy-server \
    --hide-scrollbars --user-data-dir="$(mktemp -d -p "$work")" --window-size=1280,900 \
    --screenshot="$out" "file://$(cd "$(dirname "$html")" && pwd)/$(basename "$html")" 2>>"$work/chromium.err" \
    || { cat "$work/chromium.err" >&2; exit 1; }
echo "$out"

#!/usr/bin/env bash
# Screenshots of the emulator's device-login page, in a real headless browser, at a laptop size
# (1280x800) and a phone size (390x844), of every state a person meets: the code form, the review
# of a code the integration just asked for, the pages after Approve and after Deny, and the code
# form refusing a code it does not know (an expired or used code gets the same page, other words).
# Each picture is one screen, no scrolling: Approve, Deny and "Not your code?" must be in it.
#
#   bash scripts/screenshot-devicelogin.sh [OUT]      # OUT defaults to docs/images/devicelogin
#
# writes OUT/{entry,review,approved,denied,unknown}-{laptop,phone}.png. Builds
# target/release/azure-ad-identity-protection (set BIN=path to use another binary), starts
# `emulator --port 0`, runs azure-ad-auth-start against it twice, points Chromium at the pages
# (the Approve and Deny answers are posted with curl, as the form does, and shown from a file),
# then stops the emulator. Needs chromium, jq and curl (Debian: `apt-get install chromium jq curl`);
# CHROMIUM=path picks another browser binary. A developer tool: CI does not run it.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$repo/docs/images/devicelogin}
chromium=${CHROMIUM:-/usr/bin/chromium}
sizes=("laptop 1280,800" "phone 390,844")

need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    echo "screenshot-devicelogin: $1 is missing; install it with: apt-get install $2" >&2
    exit 1
}
need "$chromium" chromium
need jq jq
need curl curl

bin=${BIN:-}
if [ -z "$bin" ]; then
    cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
    bin="${CARGO_TARGET_DIR:-$repo/target}/release/azure-ad-identity-protection"
fi

work=$(mktemp -d)
emulator_pid=
stop() {
    if [ -n "$emulator_pid" ]; then kill "$emulator_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap stop EXIT

# The emulator's first stdout line is one JSON object with the parameters a host needs.
"$bin" emulator --port 0 >"$work/emulator.out" 2>"$work/emulator.err" &
emulator_pid=$!
for _ in $(seq 100); do
    [ -s "$work/emulator.out" ] && break
    kill -0 "$emulator_pid" 2>/dev/null || { cat "$work/emulator.err" >&2; exit 1; }
    sleep 0.1
done
device_params=$(head -n 1 "$work/emulator.out" | jq -ce '.device_code_params') \
    || { echo "screenshot-devicelogin: the emulator printed no parameters" >&2; cat "$work/emulator.err" >&2; exit 1; }
base=$(jq -re '.azure_ad_endpoint' <<<"$device_params")

# Start a sign-in as the integration does, so the review shows the scopes it really asks for.
start_sign_in() {
    jq -nc --argjson params "$device_params" \
        '{command: "azure-ad-auth-start", args: {}, params: $params, context: {}}' \
        | "$bin" 2>"$work/start.err" | jq -re '.entries[0].Contents.user_code' \
        || { cat "$work/start.err" >&2; exit 1; }
}
user_code=$(start_sign_in)
declined_code=$(start_sign_in)

shoot() { # NAME URL
    local name=$1 url=$2 size label
    for size in "${sizes[@]}"; do
        label=${size%% *}
        # A fresh profile per shot: no cache, no state from an earlier run.
        timeout 60 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
            --disable-background-networking --disable-component-update --disable-sync --no-proxy-server \
            --hide-scrollbars --user-data-dir="$(mktemp -d -p "$work")" --window-size="${size#* }" \
            --screenshot="$out/$name-$label.png" "$url" 2>>"$work/chromium.err" \
            || { cat "$work/chromium.err" >&2; exit 1; }
        echo "$out/$name-$label.png"
    done
}

# Posts the decision form as the browser does and keeps the answer, to show it from a file.
decide() { # NAME USER_CODE ACTION
    curl --silent --show-error --noproxy '*' --output "$work/$1.html" \
        --data-urlencode "user_code=$2" --data-urlencode "action=$3" "$base/devicelogin"
    shoot "$1" "file://$work/$1.html"
}

mkdir -p "$out"
out=$(cd "$out" && pwd)
shoot entry "$base/devicelogin"
shoot review "$base/devicelogin?code=$user_code"
decide approved "$user_code" approve
decide denied "$declined_code" deny
shoot unknown "$base/devicelogin?code=NOSUCHCD"

#!/usr/bin/env bash
# Generate the Cortex XSOAR content pack from the repository.
#
#   bash xsoar/build-pack.sh OUT
#
# writes OUT/Packs/AzureADIdentityProtection/ (the pack, split form),
# OUT/integration-AzureADIdentityProtection.yml (the unified yml to import into XSOAR) and
# OUT/AzureADIdentityProtection.zip (the pack for Marketplace -> Upload content pack).
# The README's OUT is `out`, which .gitignore ignores.
# Needs python3 (3.11 or newer); PyYAML is installed from PyPI into target/xsoar-build-venv on the
# first run and reused afterwards. Nothing is installed outside the repository.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: bash xsoar/build-pack.sh OUT" >&2
    exit 2
fi
out=$1

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$repo/target/xsoar-build-venv"
requirements="$repo/xsoar/requirements-build.txt"
python=${PYTHON:-python3}

# (Re)create the venv when missing or when the requirements changed since it was made.
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$requirements" "$stamp"; then
    echo "build-pack: creating $venv" >&2
    rm -rf "$venv"
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || { echo "build-pack: python 3.11 or newer is needed (tomllib)" >&2; exit 1; }
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$stamp"
fi

mkdir -p "$out"
exec "$venv/bin/python" "$repo/xsoar/build_pack.py" "$out"

#!/usr/bin/env bash
# The bridge tests (xsoar/tests/): the script embedded in the unified yml, run as the XSOAR server
# runs it, drives the debug binary against the emulator.
#
#   bash xsoar/test-bridge.sh [unittest arguments, e.g. test_bridge.Fetch]
#
# Builds the binary (cargo build) and the pack (into target/xsoar-pack, which also makes the
# PyYAML virtual environment under target/), then runs the tests with that environment's Python.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
cargo build --quiet
bash xsoar/build-pack.sh target/xsoar-pack >/dev/null
export XSOAR_UNIFIED_YML="$repo/target/xsoar-pack/integration-AzureADIdentityProtection.yml"
export AZURE_AD_IDENTITY_PROTECTION_TEST_BIN="$repo/target/debug/azure-ad-identity-protection"
export PYTHONDONTWRITEBYTECODE=1
if [ $# -eq 0 ]; then
  exec target/xsoar-build-venv/bin/python -m unittest discover -s xsoar/tests -v
fi
cd xsoar/tests
exec "$repo/target/xsoar-build-venv/bin/python" -m unittest -v "$@"

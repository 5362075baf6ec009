#!/usr/bin/env bash
# Check the generated Cortex XSOAR content pack with demisto-sdk, offline.
#
#   bash xsoar/check-pack.sh
#
# 1. demisto-sdk (pinned in xsoar/requirements-sdk.txt) in target/demisto-sdk-venv: installed from
#    PyPI on the first run, reused afterwards (DEMISTO_SDK_VENV=/path/to/venv uses another one).
# 2. bash xsoar/build-pack.sh into target/xsoar-check/build; the pack is then added to a scratch
#    git repository, target/xsoar-check/content, laid out as a content repository (Packs/,
#    Config/), since demisto-sdk works on one.
# 3. demisto-sdk validate, twice: git-based (-g, the pack as added files, as for a contribution)
#    and path-based (-i), with the content repository's rule set shipped in the SDK, minus the
#    validators that need the content graph or GitHub; fails on any error.
# 4. demisto-sdk unify on the integration, compared with the unified yml build-pack.sh wrote.
# 5. demisto-sdk zip-packs on the pack, compared with the pack zip build-pack.sh wrote.
#
# Needs no network once the venv exists: no Docker, no Neo4j, no remote git.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
requirements="$repo/xsoar/requirements-sdk.txt"
scratch="$repo/target/xsoar-check"
content="$scratch/content"
pack_rel="Packs/AzureADIdentityProtection"
integration_rel="$pack_rel/Integrations/AzureADIdentityProtection"
unified_name="integration-AzureADIdentityProtection.yml"
python=${PYTHON:-python3}
start=$SECONDS

step() { printf '\n== %s\n' "$*"; }

# --- 1. demisto-sdk -------------------------------------------------------------------------
if [ -n "${DEMISTO_SDK_VENV:-}" ]; then
    venv=$DEMISTO_SDK_VENV
    step "demisto-sdk: using $venv"
else
    venv="$repo/target/demisto-sdk-venv"
    stamp="$venv/.requirements"
    if [ ! -x "$venv/bin/demisto-sdk" ] || ! cmp -s "$requirements" "$stamp"; then
        step "demisto-sdk: installing into $venv (from PyPI, about a minute)"
        rm -rf "$venv"
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
        cp "$requirements" "$stamp"
    else
        step "demisto-sdk: reusing $venv"
    fi
fi
sdk_version=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("demisto-sdk"))')
echo "demisto-sdk $sdk_version"

# demisto-sdk's own switches for working outside demisto/content without network:
# - CI=true: no "newer demisto-sdk available" look-up on PyPI.
# - DEMISTO_SDK_IGNORE_CONTENT_WARNING: no warning that this is not the content repository.
# (DEMISTO_SDK_OFFLINE_ENV is not set: `validate` refuses to run at all when it is.)
export CI=true DEMISTO_SDK_IGNORE_CONTENT_WARNING=1
# Without an `origin` remote demisto-sdk says so on every repository look-up; those lines are noise.
quiet() { grep -v "Could not get repository properties" || true; }

# --- 2. the pack, in a scratch content repository --------------------------------------------
step "build: bash xsoar/build-pack.sh $scratch/build"
rm -rf "$scratch"
mkdir -p "$scratch/build" "$content"
bash "$repo/xsoar/build-pack.sh" "$scratch/build"

step "content repository: $content"
# validate reads the approved pack categories, use cases and tags, and the compliant policies,
# from the content repository's Config/ folder:
# - categories: the list shipped in the pinned SDK (INTEGRATION_CATEGORIES);
# - use cases: the SDK has no copy; the one the pack declares, "Identity and Access Management",
#   is on demisto/content's Config/approved_usecases.json;
# - tags: the pack declares none;
# - compliant policies: none known offline (what demisto-sdk falls back to when it cannot download
#   the file; written here so that it does not try).
# The validation config: the SDK's copy of the content repository's rules (sdk_validation_config
# .toml), for git-based and for path-based runs, minus
# - the validators that query the content graph (GR*, and the others that call self.graph): the
#   graph is a Neo4j database that demisto-sdk downloads and runs in Docker;
# - DO105, which downloads the list of deprecated images from GitHub;
# and with DO101, DO103 and DO106 made ignorable, so that the pack's .pack-ignore can ignore them
# with its reasons (the image is built by the user, not a demisto/ image on Docker Hub).
"$venv/bin/python" - "$content" "$scratch/validation_config.toml" <<'PY'
import json
import re
import sys
from pathlib import Path

import demisto_sdk
import toml
from demisto_sdk.commands.common.constants import INTEGRATION_CATEGORIES

content, config_out = Path(sys.argv[1]), Path(sys.argv[2])
config_dir = content / "Config"
config_dir.mkdir()
files = {
    "approved_categories.json": {"approved_list": INTEGRATION_CATEGORIES},
    "approved_usecases.json": {"approved_list": ["Identity and Access Management"]},
    "approved_tags.json": {"approved_list": {"common": [], "xsoar": [], "marketplacev2": [], "xpanse": []}},
    "compliant_policies.json": {"policies": []},
}
for name, data in files.items():
    (config_dir / name).write_text(json.dumps(data, indent=2) + "\n")

validate_dir = Path(demisto_sdk.__file__).parent / "commands" / "validate"
rules = toml.load(validate_dir / "sdk_validation_config.toml")
left_out = {"DO105": "downloads from GitHub"}
for path in (validate_dir / "validators").rglob("*.py"):
    match = re.match(r"([A-Z]{2}\d{3})_", path.name)
    if match and (match[1].startswith("GR") or re.search(r"self\.graph\b|graph_interface", path.read_text())):
        left_out[match[1]] = "needs the content graph"
config = {
    "ignorable_errors": sorted(set(rules["ignorable_errors"]) | {"DO101", "DO103", "DO106"}),
    "support_level": rules.get("support_level", {}),
}
dropped = set()
for section_name in ("use_git", "path_based_validations"):
    section = rules[section_name]
    kept = {}
    for kind in ("select", "warning"):
        codes = section.get(kind, [])
        kept[kind] = [code for code in codes if code not in left_out]
        dropped |= set(codes) & set(left_out)
    config[section_name] = kept
    print(f"validation config [{section_name}]: {len(kept['select'])} validators as errors, "
          f"{len(kept['warning'])} as warnings")
config_out.write_text(toml.dumps(config))
for reason in sorted(set(left_out.values())):
    codes = sorted(code for code in dropped if left_out[code] == reason)
    print(f"  left out ({reason}): {' '.join(codes)}")
PY

# A base commit with Config/ only on master, the pack added on a branch: validate -g then sees the
# pack as added, as for a contribution, and runs the validators meant for added files. `origin` is
# the repository itself (a local path), because validate compares with origin/master.
git_() { git -C "$content" -c user.name="check-pack" -c user.email="check-pack@localhost" -c commit.gpgsign=false "$@"; }
git_ init -q -b master
git_ add Config
git_ commit -q -m "content repository base"
git_ remote add origin "$content"
git_ fetch -q origin
git_ checkout -q -b add-pack
cp -R "$scratch/build/Packs" "$content/Packs"
git_ add -A
git_ commit -q -m "add the generated pack"
echo "branch add-pack: the pack added on top of master (Config/ only)"

# --- 3. validate ------------------------------------------------------------------------------
cd "$content"
run_validate() {  # label, json file, validate arguments...
    local label=$1 json=$2 status
    shift 2
    step "validate ($label): demisto-sdk validate $*"
    set +e
    "$venv/bin/demisto-sdk" validate "$@" \
        --config-path "$scratch/validation_config.toml" \
        --json-file "$json" \
        --log-file-path "$scratch" 2>&1 | quiet
    status=${PIPESTATUS[0]}
    set -e
    "$venv/bin/python" - "$json" "$label" <<'PY'
import json
import sys

results = json.load(open(sys.argv[1]))
errors = results.get("validations", [])
crashed = results.get("Validations that caught exceptions", [])
for item in errors:
    print(f"  {item['error code']}: {item['file path']}: {item['message']}")
for item in crashed:
    print(f"  validator crashed: {item}")
print(f"validate ({sys.argv[2]}): {len(errors)} error(s), {len(crashed)} validator crash(es)")
sys.exit(1 if errors or crashed else 0)
PY
    if [ "$status" -ne 0 ]; then
        echo "validate ($label): FAILED (exit status $status)" >&2
        exit 1
    fi
    echo "validate ($label): passed"
}
run_validate "git, the pack as added files" "$scratch/validate-git.json" -g --prev-ver master
run_validate "path-based" "$scratch/validate-path.json" -i "$pack_rel"

# --- 4. unify ---------------------------------------------------------------------------------
step "unify: demisto-sdk unify -i $integration_rel"
mkdir -p "$scratch/unify"
"$venv/bin/demisto-sdk" unify -i "$integration_rel" -o "$scratch/unify" 2>&1 | quiet
"$venv/bin/python" - "$scratch/build/$unified_name" "$scratch/unify/$unified_name" <<'PY'
import sys

import yaml

ours_path, sdk_path = sys.argv[1], sys.argv[2]
ours = yaml.safe_load(open(ours_path, encoding="utf-8"))
sdk = yaml.safe_load(open(sdk_path, encoding="utf-8"))
failures = []


def check(label, ok):
    print(f"  {'ok  ' if ok else 'FAIL'} {label}")
    if not ok:
        failures.append(label)


check("same top-level keys", set(ours) == set(sdk))
check("script.script: the same embedded code", ours["script"]["script"] == sdk["script"]["script"])
for key in sorted(set(ours["script"]) | set(sdk["script"])):
    if key != "script":
        check(f"script.{key}", ours["script"].get(key) == sdk["script"].get(key))
check(
    f"script.commands: the same {len(ours['script']['commands'])} commands, arguments and outputs",
    ours["script"]["commands"] == sdk["script"]["commands"],
)
check(f"configuration: the same {len(ours['configuration'])} parameters", ours["configuration"] == sdk["configuration"])
check("image: the same embedded PNG", ours.get("image") == sdk.get("image"))
for key in sorted(set(ours) - {"script", "configuration", "image", "display", "detaileddescription"}):
    check(key, ours.get(key) == sdk.get(key))
# For a community pack unify marks the display name "(Community Contribution)" and puts a support
# notice before the description and a documentation link after it; ours carries neither.
check("display (unify may append a support label)", str(sdk.get("display", "")).startswith(ours["display"]))
check(
    "detaileddescription (ours, inside unify's support notice and doc link)",
    ours["detaileddescription"].strip() in sdk.get("detaileddescription", ""),
)
if failures:
    print(f"unify: {len(failures)} difference(s) from the unified yml of build-pack.sh")
    sys.exit(1)
print("unify: demisto-sdk's unified yml matches the one build-pack.sh wrote")
PY

# --- 5. zip-packs ------------------------------------------------------------------------------
zip_name="AzureADIdentityProtection.zip"
step "zip-packs: demisto-sdk zip-packs -i $pack_rel, compared with $zip_name of build-pack.sh"
"$venv/bin/demisto-sdk" zip-packs -i "$pack_rel" -o "$scratch/zip-packs" 2>&1 | quiet | grep -E "^Created|zip" || true
"$venv/bin/python" - "$scratch/build/$zip_name" "$scratch/zip-packs/uploadable_packs/$zip_name" <<'PY'
import json
import sys
import zipfile

import yaml

ours_zip, sdk_zip = zipfile.ZipFile(sys.argv[1]), zipfile.ZipFile(sys.argv[2])
ours = {n: ours_zip.read(n) for n in ours_zip.namelist() if not n.endswith("/")}
sdk = {n: sdk_zip.read(n) for n in sdk_zip.namelist() if not n.endswith("/")}
failures = []


def check(label, ok):
    print(f"  {'ok  ' if ok else 'FAIL'} {label}")
    if not ok:
        failures.append(label)


check(f"the same {len(sdk)} files", sorted(ours) == sorted(sdk))
for name in sorted(set(ours) & set(sdk)):
    if name.endswith(".json") and name != "metadata.json":
        check(name, json.loads(ours[name]) == json.loads(sdk[name]))
    elif name.startswith("Scripts/"):
        check(name, yaml.safe_load(ours[name]) == yaml.safe_load(sdk[name]))
    elif name.startswith("Integrations/"):
        # unify's community support notice and doc link, as in step 4, are left out of ours.
        a, b = yaml.safe_load(ours[name]), yaml.safe_load(sdk[name])
        same = {k: a[k] == b.get(k) for k in a if k not in ("display", "detaileddescription")}
        check(f"{name} (but display and detaileddescription)", all(same.values()) and set(a) == set(b))
    elif name == "README.md":
        check(name, ours[name] == sdk[name])
meta_ours, meta_sdk = json.loads(ours["metadata.json"]), json.loads(sdk["metadata.json"])
check("metadata.json: the same keys", set(meta_ours) == set(meta_sdk))
for kind, listed in meta_sdk["contentItems"].items():
    names = lambda items: sorted(i["name"] for i in items)
    check(f"metadata.json: contentItems.{kind}", names(meta_ours["contentItems"].get(kind, [])) == names(listed))
if failures:
    print(f"zip-packs: {len(failures)} difference(s) from the zip of build-pack.sh")
    sys.exit(1)
print("zip-packs: demisto-sdk's pack zip matches the one build-pack.sh wrote")
PY

step "check-pack: all checks passed in $((SECONDS - start)) s"
echo "pack: $content/$pack_rel"
echo "unified yml: $scratch/build/$unified_name"
echo "pack zip: $scratch/build/$zip_name"

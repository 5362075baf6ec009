#!/usr/bin/env python3
"""Generate the Cortex XSOAR content pack from the repository.

    python3 xsoar/build_pack.py OUT [--bridge PATH]

Writes
    OUT/Packs/AzureADIdentityProtection/                  the pack in split form (what
                                                          `demisto-sdk validate` checks)
    OUT/integration-AzureADIdentityProtection.yml         the unified yml XSOAR imports
    OUT/AzureADIdentityProtection.zip                     the pack for Marketplace -> Upload pack,
                                                          laid out as `demisto-sdk zip-packs` lays
                                                          it out (xsoar/check-pack.sh compares)

Inputs
    integration.yml            the integration definition (the only source of commands,
                               arguments, outputs and parameters)
    Cargo.toml                 [package] version -> Docker image tag
    xsoar/AzureADIdentityProtection.py   the bridge script that runs the binary
    xsoar/pack/                the static pack files that cannot be derived
    xsoar/pack_content.py      incident types, incident fields, classifier, mappers and
                               layouts, generated from its tables

The unified yml is built the way `demisto-sdk unify` builds it (the code embedded between
register_module_line markers with the pack version statement first, the description and the
PNG logo embedded), without needing demisto-sdk. xsoar/check-pack.sh compares the two.

Only PyYAML is needed beyond the standard library.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import math
import os
import re
import shutil
import struct
import sys
import tomllib
import zipfile
import zlib
from pathlib import Path

import yaml

import pack_content

PACK = "AzureADIdentityProtection"
INTEGRATION = "AzureADIdentityProtection"
IMAGE_NAME = "azure-ad-identity-protection"
DESCRIPTION_PLACEHOLDER = "{{detaileddescription}}"

REPO = Path(__file__).resolve().parent.parent
STATIC = REPO / "xsoar" / "pack"


class BuildError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# YAML output
# --------------------------------------------------------------------------------------------


class Literal(str):
    """A string emitted as a YAML literal block (`|`)."""


class Dumper(yaml.SafeDumper):
    pass


def _literal(dumper: yaml.SafeDumper, value: Literal):
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|")


def _plain_str(dumper: yaml.SafeDumper, value: str):
    # Multi-line strings (descriptions) read better as blocks; PyYAML falls back to a quoted
    # scalar by itself when a block cannot represent the text exactly.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


Dumper.add_representer(Literal, _literal)
Dumper.add_representer(str, _plain_str)


def dump_yaml(data: dict) -> str:
    return yaml.dump(
        data,
        Dumper=Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1_000_000,
        indent=2,
    )


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def package_version() -> str:
    with open(REPO / "Cargo.toml", "rb") as f:
        return tomllib.load(f)["package"]["version"]


def load_definition() -> dict:
    with open(REPO / "integration.yml", encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict) or not isinstance(data.get("script"), dict):
        raise BuildError("integration.yml: expected a mapping with a `script` mapping")
    for key in ("type", "subtype", "dockerimage", "script"):
        if key in data["script"]:
            raise BuildError(
                f"integration.yml: script.{key} is added by the pack build and must not be set there"
            )
    return data


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BuildError(f"missing input file: {path}") from None


# --------------------------------------------------------------------------------------------
# The integration yml, split and unified
# --------------------------------------------------------------------------------------------


def split_yml(definition: dict, docker_image: str) -> dict:
    """integration.yml plus the Python script fields; the description lives in its own file."""
    out: dict = {}
    for key, value in definition.items():
        if key == "detaileddescription":
            continue
        if key == "script":
            script = {
                "script": "-",
                "type": "python",
                "subtype": "python3",
                "dockerimage": docker_image,
            }
            script.update(value)
            out["script"] = script
        else:
            out[key] = value
    # The content repository's link to test playbooks. There are none: the integration is tested
    # by `cargo test` (the binary) and xsoar/tests (the bridge).
    out.setdefault("tests", ["No tests"])
    return out


def unified_script(code: str, name: str, pack_version: str) -> str:
    """The code as `demisto-sdk unify` embeds it for a pack integration."""
    code = (
        f"CONSTANT_PACK_VERSION = '{pack_version}'\n"
        f"demisto.debug('pack id = {PACK}, pack version = {pack_version}')\n"
        f"{code}"
    )
    # The platform provides demisto and CommonServerPython; their imports are dropped.
    for pattern in (
        r"import demistomock as demisto[ \t]*(#.*)?",
        r"from CommonServerPython import \*[ \t]*(#.*)?",
        r"from CommonServerUserPython import \*[ \t]*(#.*)?",
        r"from __future__ import print_function[ \t]*(#.*)?",
    ):
        code = re.sub(pattern, "", code)
    return (
        f"register_module_line('{name}', 'start', __line__())\n"
        f"{code}\n"
        f"register_module_line('{name}', 'end', __line__())\n"
    )


def unified_yml(split: dict, code: str, description: str, png: bytes, pack_version: str) -> dict:
    out: dict = {}
    for key, value in split.items():
        if key == "script":
            script = dict(value)
            script["script"] = Literal(unified_script(code, split["name"], pack_version))
            out["script"] = script
        else:
            out[key] = value
    out["image"] = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    out["detaileddescription"] = description
    return out


# --------------------------------------------------------------------------------------------
# The logo: 120x50 PNG, a blue shield with a person, and three risk-level bars
# --------------------------------------------------------------------------------------------

WIDTH, HEIGHT = 120, 50
SAMPLES = 4  # per axis, for anti-aliased edges


def _shield(x: float, y: float) -> bool:
    cx, top, shoulder, bottom, half = 24.0, 3.0, 22.0, 47.0, 18.0
    if abs(x - cx) > half or y > bottom:
        return False
    # the top edge dips slightly towards the middle
    if y < top + 2.0 * (1 - ((x - cx) / half) ** 2):
        return False
    if y <= shoulder:
        return True
    # below the shoulders the sides close in to the point
    t = (y - shoulder) / (bottom - shoulder)
    return abs(x - cx) <= half * math.sqrt(1 - t * t)


def _person(x: float, y: float) -> bool:
    cx = 24.0
    if (x - cx) ** 2 + (y - 17.0) ** 2 <= 6.0**2:
        return True
    # shoulders: the upper half of an ellipse, under the head
    return 26.5 <= y <= 37.0 and ((x - cx) / 11.5) ** 2 + ((y - 37.0) / 11.0) ** 2 <= 1.0


_BARS = (  # x0, x1, top, colour: low, medium and high risk
    (56.0, 70.0, 31.0, (0x4C, 0xAF, 0x50)),
    (76.0, 90.0, 19.0, (0xF5, 0xA6, 0x23)),
    (96.0, 110.0, 7.0, (0xD9, 0x3A, 0x2E)),
)
_BAR_BOTTOM = 44.0
_BAR_RADIUS = 3.0


def _bar(x: float, y: float, x0: float, x1: float, top: float) -> bool:
    if not (x0 <= x <= x1 and top <= y <= _BAR_BOTTOM):
        return False
    r = _BAR_RADIUS
    corner_y = top + r
    if y >= corner_y:
        return True
    corner_x = min(max(x, x0 + r), x1 - r)  # nearest point of the inner top edge
    return (x - corner_x) ** 2 + (y - corner_y) ** 2 <= r * r


def _sample(x: float, y: float) -> tuple[int, int, int, int]:
    if _shield(x, y):
        if _person(x, y):
            return (255, 255, 255, 255)
        # vertical gradient from Azure blue to a deeper blue
        t = min(1.0, max(0.0, (y - 3.0) / 44.0))
        return (0, round(0x78 + t * (0x4E - 0x78)), round(0xD4 + t * (0x8C - 0xD4)), 255)
    for x0, x1, top, colour in _BARS:
        if _bar(x, y, x0, x1, top):
            return (*colour, 255)
    if 52.0 <= x <= 114.0 and 45.5 <= y <= 47.0:  # the base line under the bars
        return (0x60, 0x6A, 0x78, 255)
    return (0, 0, 0, 0)


def render_logo() -> bytes:
    rows = bytearray()
    n = SAMPLES * SAMPLES
    for py in range(HEIGHT):
        rows.append(0)  # filter type: none
        for px in range(WIDTH):
            acc = [0, 0, 0, 0]
            for sy in range(SAMPLES):
                for sx in range(SAMPLES):
                    r, g, b, a = _sample(px + (sx + 0.5) / SAMPLES, py + (sy + 0.5) / SAMPLES)
                    acc[0] += r * a
                    acc[1] += g * a
                    acc[2] += b * a
                    acc[3] += a
            if acc[3]:
                pixel = (
                    round(acc[0] / acc[3]),
                    round(acc[1] / acc[3]),
                    round(acc[2] / acc[3]),
                    round(acc[3] / n),
                )
            else:
                pixel = (0, 0, 0, 0)
            rows.extend(pixel)
    return _png(WIDTH, HEIGHT, bytes(rows))


def _png(width: int, height: int, raw_rgba_rows: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw_rgba_rows, 9))
        + chunk(b"IEND", b"")
    )


# --------------------------------------------------------------------------------------------
# The integration README, generated from the definition
# --------------------------------------------------------------------------------------------


def _cell(text) -> str:
    """One Markdown table cell: single line, pipes and angle brackets escaped."""
    text = "" if text is None else str(text)
    text = " ".join(part.strip() for part in text.strip().splitlines() if part.strip())
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _param_label(param: dict) -> str:
    if param.get("type") == 9 and param.get("hiddenusername"):
        return param.get("displaypassword") or param["name"]
    return param.get("display") or param.get("displaypassword") or param["name"]


def _argument_description(arg: dict) -> str:
    text = _cell(arg.get("description", "")).rstrip()
    if text and not text.endswith("."):
        text += "."
    extra = []
    if arg.get("predefined"):
        extra.append("Possible values are: " + ", ".join(str(v) for v in arg["predefined"]) + ".")
    if arg.get("defaultValue") not in (None, ""):
        extra.append(f"Default is {arg['defaultValue']}.")
    return " ".join([text, *extra]).strip()


def integration_readme(definition: dict, header: str, examples: dict[str, list[str]]) -> str:
    lines: list[str] = []
    add = lines.append
    header = header.strip()
    if header:
        add(header)
        add("")

    add(f"## Configure {definition['display']} in Cortex")
    add("")
    add("| **Parameter** | **Description** | **Required** |")
    add("| --- | --- | --- |")
    for param in definition.get("configuration", []):
        required = "True" if param.get("required") else "False"
        add(f"| {_cell(_param_label(param))} | {_cell(param.get('additionalinfo', ''))} | {required} |")
    add("")

    add("## Commands")
    add("")
    add(
        "Run these commands from the War Room or the CLI, or use them in a playbook. "
        "Each command writes its result to the War Room and, where listed, to the context."
    )
    add("")
    for command in definition["script"].get("commands", []):
        name = command["name"]
        add(f"### {name}")
        add("")
        add("***")
        add(_cell(command.get("description", "")))
        add("")
        add("#### Base Command")
        add("")
        add(f"`{name}`")
        add("")
        add("#### Input")
        add("")
        arguments = command.get("arguments") or []
        if arguments:
            add("| **Argument Name** | **Description** | **Required** |")
            add("| --- | --- | --- |")
            for arg in arguments:
                required = "Required" if arg.get("required") else "Optional"
                add(f"| {arg['name']} | {_cell(_argument_description(arg))} | {required} |")
        else:
            add("There are no input arguments for this command.")
        add("")
        add("#### Context Output")
        add("")
        outputs = command.get("outputs") or []
        if outputs:
            add("| **Path** | **Type** | **Description** |")
            add("| --- | --- | --- |")
            for out in outputs:
                add(f"| {out['contextPath']} | {_cell(out.get('type', 'Unknown'))} | {_cell(out.get('description', ''))} |")
        else:
            add("There is no context output for this command.")
        add("")
        for example in examples.get(name, []):
            add("#### Command example")
            add("")
            add(f"```{example}```")
            add("")
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------------------------
# Static inputs
# --------------------------------------------------------------------------------------------


def command_examples(definition: dict) -> tuple[str, dict[str, list[str]]]:
    text = read_text(STATIC / "command_examples")
    declared = [c["name"] for c in definition["script"].get("commands", [])]
    by_command: dict[str, list[str]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if not line.startswith("!"):
            raise BuildError(f"xsoar/pack/command_examples:{number}: expected `!command args`")
        name = line[1:].split(None, 1)[0]
        if name not in declared:
            raise BuildError(f"xsoar/pack/command_examples:{number}: `{name}` is not a command of integration.yml")
        by_command.setdefault(name, []).append(line)
    missing = [n for n in declared if n not in by_command]
    if missing:
        raise BuildError("xsoar/pack/command_examples has no example for: " + ", ".join(missing))
    return text if text.endswith("\n") else text + "\n", by_command


PERMISSIONS_HEADING = "### Permissions per command"


def permissions_table() -> str:
    """The permissions table of docs/app-registration.md, which does not ship in the pack: the
    integration README carries a copy, taken at build time so that the two cannot drift."""
    text = read_text(REPO / "docs" / "app-registration.md")
    if text.count(PERMISSIONS_HEADING) != 1:
        raise BuildError(f"docs/app-registration.md must hold the heading {PERMISSIONS_HEADING!r} once")
    after = text.split(PERMISSIONS_HEADING, 1)[1].lstrip("\n").splitlines()
    rows = []
    for line in after:
        if not line.startswith("|"):
            break
        rows.append(line)
    if len(rows) < 3:
        raise BuildError(f"docs/app-registration.md: no table under {PERMISSIONS_HEADING!r}")
    return "\n".join(rows)


def description_md(definition: dict) -> str:
    template = read_text(STATIC / f"{INTEGRATION}_description.md")
    if template.count(DESCRIPTION_PLACEHOLDER) != 1:
        raise BuildError(f"xsoar/pack/{INTEGRATION}_description.md must hold {DESCRIPTION_PLACEHOLDER} once")
    text = template.replace(DESCRIPTION_PLACEHOLDER, str(definition.get("detaileddescription", "")).strip())
    return text.strip() + "\n"


# --------------------------------------------------------------------------------------------
# The pack zip (Marketplace -> Upload pack), in the layout of `demisto-sdk zip-packs`
# --------------------------------------------------------------------------------------------

# The file-name prefix of each content folder in the zip; the SDK adds it unless the name already
# starts with it (mappers: "classifier-mapper-" before the source file's name).
ZIP_PREFIXES = {
    "IncidentFields": "incidentfield-",
    "IncidentTypes": "incidenttype-",
    "Layouts": "layoutscontainer-",
}
# A fixed time for every entry, so that the same inputs give the same zip.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _zip_name(prefix: str, name: str) -> str:
    return name if name.startswith(prefix) else prefix + name


def zip_content_items(pack_dir: Path) -> dict[str, dict]:
    """The JSON content items as the zip holds them: {zip path: item}."""
    items: dict[str, dict] = {}
    for folder in ("IncidentFields", "IncidentTypes", "Classifiers", "Layouts"):
        for path in sorted((pack_dir / folder).glob("*.json")):
            item = json.loads(path.read_text(encoding="utf-8"))
            prefix = ZIP_PREFIXES.get(folder)
            if folder == "Classifiers":
                prefix = "classifier-" if item.get("type") == "classification" else "classifier-mapper-"
            if folder == "Layouts":  # the server reads a layout's versions under these keys
                item.setdefault("fromServerVersion", item.get("fromVersion"))
                item.setdefault("toServerVersion", item.get("toVersion", "99.99.99"))
            items[f"{folder}/{_zip_name(prefix, path.name)}"] = item
    return items


def unified_scripts(pack_dir: Path, pack_version: str) -> dict[str, dict]:
    """Each automation script of the pack, unified as `demisto-sdk unify` does: {zip path: yml}."""
    scripts: dict[str, dict] = {}
    for folder in sorted(p for p in (pack_dir / "Scripts").glob("*") if p.is_dir()):
        data = yaml.safe_load(read_text(folder / f"{folder.name}.yml"))
        code = read_text(folder / f"{folder.name}.py")
        data["script"] = Literal(unified_script(code, data["name"], pack_version))
        scripts[f"Scripts/{_zip_name('script-', folder.name)}.yml"] = data
    return scripts


def marketplace_metadata(metadata: dict, unified: dict, scripts: dict, items: dict) -> dict:
    """metadata.json: the pack's entry in the Marketplace, with a summary of each content item."""
    def of_type(kind: str, *keys: str) -> list[dict]:
        return [{k: item.get(k) for k in keys} for path, item in items.items() if path.startswith(kind)]

    commands = [{"name": c["name"], "description": c.get("description", "")} for c in unified["script"]["commands"]]
    use_cases = [u.title() for u in metadata.get("useCases", [])]
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    built = datetime.datetime.fromtimestamp(int(epoch), datetime.UTC) if epoch else datetime.datetime.now(datetime.UTC)
    return {
        "name": metadata["name"], "id": PACK, "description": metadata["description"],
        "created": metadata["created"], "updated": built.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "legacy": metadata.get("legacy", True), "support": metadata["support"],
        "supportDetails": {}, "eulaLink": "https://github.com/demisto/content/blob/master/LICENSE",
        "author": metadata["author"], "certification": "", "price": 0,
        "serverMinVersion": unified.get("fromversion", "0.0.0"), "currentVersion": metadata["currentVersion"],
        "tags": metadata.get("tags", []) + (["Use Case"] if use_cases else []),
        "categories": metadata["categories"], "useCases": use_cases,
        "keywords": metadata.get("keywords", []), "dependencies": metadata.get("dependencies", {}),
        "contentItems": {
            "automation": [{"name": s["name"], "description": s.get("comment", ""), "tags": s.get("tags", [])}
                           for s in scripts.values()],
            "integration": [{"name": unified["name"], "description": unified["description"],
                             "category": unified["category"], "commands": commands}],
            "incidentfield": of_type("IncidentFields/", "name", "type", "description"),
            "incidenttype": [{"name": t["name"], "playbook": t.get("playbookId", ""),
                              "closureScript": t.get("closureScript", ""),
                              **{k: t.get(k, 0) for k in ("hours", "days", "weeks")}}
                             for t in of_type("IncidentTypes/", "name", "playbookId", "closureScript",
                                              "hours", "days", "weeks")],
            "layoutscontainer": of_type("Layouts/", "name", "description"),
            "classifier": of_type("Classifiers/", "name", "description"),
        },
    }


def write_pack_zip(path: Path, pack_dir: Path, unified_text: str, pack_version: str) -> int:
    """OUT/AzureADIdentityProtection.zip; returns the number of files in it."""
    metadata = json.loads(read_text(pack_dir / "pack_metadata.json"))
    items = zip_content_items(pack_dir)
    scripts = unified_scripts(pack_dir, pack_version)
    files: dict[str, str] = {
        "pack_metadata.json": read_text(pack_dir / "pack_metadata.json"),
        "README.md": read_text(pack_dir / "README.md"),
        f"Integrations/integration-{INTEGRATION}.yml": unified_text,
    }
    unified = yaml.safe_load(unified_text)
    files["metadata.json"] = json.dumps(marketplace_metadata(metadata, unified, scripts, items), indent=4) + "\n"
    files.update({name: json.dumps(item, indent=4) + "\n" for name, item in items.items()})
    files.update({name: dump_yaml(data) for name, data in scripts.items()})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            entry = zipfile.ZipInfo(name, ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, files[name].encode("utf-8"))
    return len(files)


# --------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------


def with_docker_image(code: str, docker_image: str, bridge: Path) -> str:
    """The bridge with its DOCKER_IMAGE line set to the pack's image, so that its "binary not
    found" message names the image to select."""
    line = re.compile(r"^DOCKER_IMAGE = '[^'\n]*'$", re.MULTILINE)
    code, count = line.subn(f"DOCKER_IMAGE = '{docker_image}'", code)
    if count != 1:
        raise BuildError(f"{bridge}: expected one line DOCKER_IMAGE = '...', found {count}")
    return code


def build(out: Path, bridge: Path) -> None:
    definition = load_definition()
    version = package_version()
    docker_image = f"{IMAGE_NAME}:{version}"
    metadata = json.loads(read_text(STATIC / "pack_metadata.json"))
    pack_version = metadata["currentVersion"]
    code = read_text(bridge)
    if "def main(" not in code or "__main__" not in code:
        raise BuildError(f"{bridge}: does not look like an XSOAR integration script (no main())")
    code = with_docker_image(code, docker_image, bridge)

    pack_dir = out / "Packs" / PACK
    integ_dir = pack_dir / "Integrations" / INTEGRATION
    if pack_dir.exists():
        shutil.rmtree(pack_dir)
    integ_dir.mkdir(parents=True)

    # pack-level static files
    for name in ("pack_metadata.json", "README.md", ".pack-ignore", ".secrets-ignore"):
        shutil.copyfile(STATIC / name, pack_dir / name)
    if (STATIC / "Scripts").is_dir():  # the layouts' button and dynamic-section scripts
        shutil.copytree(STATIC / "Scripts", pack_dir / "Scripts")
    if (STATIC / "ReleaseNotes").is_dir():
        shutil.copytree(STATIC / "ReleaseNotes", pack_dir / "ReleaseNotes")

    # incident types, fields, classifier, mappers and layouts (xsoar/pack_content.py)
    content_files = pack_content.write(pack_dir)

    # the integration
    split = split_yml(definition, docker_image)
    examples_text, examples = command_examples(definition)
    description = description_md(definition)
    png = render_logo()
    header = ""
    if (STATIC / "integration-README-header.md").exists():
        header = read_text(STATIC / "integration-README-header.md").replace("{{dockerimage}}", docker_image)
        header = header.replace("{{permissions}}", permissions_table())

    (integ_dir / f"{INTEGRATION}.yml").write_text(dump_yaml(split), encoding="utf-8")
    (integ_dir / f"{INTEGRATION}.py").write_text(code, encoding="utf-8")
    (integ_dir / f"{INTEGRATION}_description.md").write_text(description, encoding="utf-8")
    (integ_dir / f"{INTEGRATION}_image.png").write_bytes(png)
    (integ_dir / "README.md").write_text(integration_readme(split, header, examples), encoding="utf-8")
    (integ_dir / "command_examples").write_text(examples_text, encoding="utf-8")

    unified = unified_yml(split, code, description, png, pack_version)
    unified_text = dump_yaml(unified)
    if "\n  script: |" not in unified_text:
        print("build_pack: note: the script could not be written as a literal block "
              "(trailing spaces or control characters in the code?)", file=sys.stderr)
    (out / f"integration-{INTEGRATION}.yml").write_text(unified_text, encoding="utf-8")

    # the generated files must read back as what was meant
    if yaml.safe_load(unified_text)["script"]["script"] != str(unified["script"]["script"]):
        raise BuildError("the unified yml does not round-trip the script")

    zip_path = out / f"{PACK}.zip"
    zipped = write_pack_zip(zip_path, pack_dir, unified_text, pack_version)

    print(f"build_pack: {pack_dir}")
    print(f"build_pack: {out / f'integration-{INTEGRATION}.yml'}")
    print(f"build_pack: {zip_path} ({zipped} files, for Marketplace -> Upload pack)")
    print(f"build_pack: docker image {docker_image}, pack version {pack_version}, "
          f"{len(split['script'].get('commands', []))} commands, logo {len(png)} bytes, "
          f"{content_files} incident content files")


def main() -> int:
    parser = argparse.ArgumentParser(description="Generate the XSOAR content pack.")
    parser.add_argument("out", type=Path, help="output folder")
    parser.add_argument(
        "--bridge",
        type=Path,
        default=REPO / "xsoar" / f"{INTEGRATION}.py",
        help="the bridge script (default: xsoar/AzureADIdentityProtection.py)",
    )
    args = parser.parse_args()
    try:
        build(args.out.resolve(), args.bridge)
    except BuildError as e:
        print(f"build_pack: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

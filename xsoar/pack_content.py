"""The pack's incident content: incident types, incident fields, classifier, mappers, layouts.

Everything is generated from the tables at the top of this module, so that a field is named,
typed, associated, mapped and laid out from one row. xsoar/build_pack.py calls `write(pack_dir)`.

Decisions (why, in one place; the README's "Working incidents" section points here):

- Classification keys on the rawJSON member `entra_object_type`, which the binary always adds
  (`riskDetection`, `riskyUser`, `servicePrincipalRiskDetection`): no Graph member tells the
  three kinds apart reliably (`riskEventType` exists on both detection kinds, not on users).
- Reused CommonTypes fields are only those associated to all incident types (`associatedToAll`
  in demisto/content Packs/CommonTypes/IncidentFields): Source IP, Source Username, Event ID,
  Alert Source. (Country Code Number is one too, but Graph's countryOrRegion is a letter code,
  so the country is a pack field.) CommonTypes fields tied to a list of incident types
  (Username, Risk Rating, Location, City, Display Name, ...) are not: a pack outside the content
  repository cannot add its incident types to their `associatedTypes`, and XSOAR shows and
  keeps a field only for the types it is associated with. Those values get pack fields.
- Graph timestamps stay `shortText` (as the Microsoft Graph Identity and Access and Azure AD
  packs keep them): the value is Graph's own ISO 8601 text with 7 fractional digits, kept
  exactly; the incident's `occurred` already carries the instant as a date.
- Severity: MapValuesTransformer (CommonScripts) over Graph's whole riskLevel enum: low 1,
  medium 2, high 3; hidden, none, unknownFutureValue 0 -- what the binary sets at fetch.
- Pack fields are `unsearchable` (IF115: not indexed, as content asks of new fields); what an
  analyst searches by (source IP, user principal name, detection id) is in the reused
  searchable CommonTypes fields.
- Coordinates: two `number` fields read with `complex` root `location.geoCoordinates` and
  accessors `latitude` / `longitude`; XSOAR has no geo field type, and a number each is what a
  map section needs.
- Layout buttons and the map need scripts (xsoar/pack/Scripts): a layout button runs an
  automation tagged `incident-action-button`, not an integration command, so
  AzureADIdentityProtectionRiskAction runs the integration's command for the button's action on
  the incident's subject: dismiss / confirm the risk of its user or service principal, and (issue
  17) investigate and respond -- its sign-in, the sign-ins around it or the user's recent ones,
  the user's sessions revoked, its Source IP blocked; a map is an entry of type 15
  (MAP_ENTRY_TYPE) returned by a `dynamic-section` script (AzureADIdentityProtectionSignInMap; the server needs its Google Maps
  key, UI.google.api.key), as content's DataminrPulseShowOnMapWithLatLng does; no layout section
  shows an incident's rawJSON, so AzureADIdentityProtectionRawObject does.
- Sections flow on the 3-column grid left to right, a row as tall as its tallest section and
  its last section widened to the right edge: the grid has no holes, whichever fields a type has.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

PREFIX = "Azure AD Identity Protection"
FROM_VERSION = "6.2.0"

# --------------------------------------------------------------------------------------------
# Incident types, keyed by the rawJSON member `entra_object_type`
# --------------------------------------------------------------------------------------------

DETECTION = f"{PREFIX} Risk Detection"
RISKY_USER = f"{PREFIX} Risky User"
PRINCIPAL = f"{PREFIX} Service Principal Risk Detection"

# entra_object_type -> (incident type id, colour)
KINDS = {
    "riskDetection": (DETECTION, "#D93A2E"),
    "riskyUser": (RISKY_USER, "#F5A623"),
    "servicePrincipalRiskDetection": (PRINCIPAL, "#0078D4"),
}
ALL_TYPES = [t for t, _ in KINDS.values()]

CLASSIFIER = f"{PREFIX} Classifier"
MAPPER_IN = f"{PREFIX} Incoming Mapper"
MAPPER_OUT = f"{PREFIX} Outgoing Mapper"
CLASSIFY_BY = "entra_object_type"


def layout_id(incident_type: str) -> str:
    return f"{incident_type} Layout"


# --------------------------------------------------------------------------------------------
# Fields: one row each. Paths are rawJSON paths per kind (D detection, U risky user, S service
# principal detection); "a.b" is read with `complex` root `a`, accessor `b`.
# `kind` None = a CommonTypes field (exact name and cliName as in demisto/content).
# --------------------------------------------------------------------------------------------

# name, cliName of a common field or the pack field's type, D, U, S, description
FIELDS = [
    # who
    ("Source Username", None, "userPrincipalName", "userPrincipalName", None,
     "sourceusername"),
    (f"{PREFIX} User Display Name", "shortText", "userDisplayName", "userDisplayName", None,
     "The user's display name in Entra ID."),
    (f"{PREFIX} User ID", "shortText", "userId", "id", None,
     "The user's object id in Entra ID."),
    (f"{PREFIX} User Risk Level", "shortText", "user_risk.riskLevel", "riskLevel", None,
     "The user's current aggregated risk level (riskyUser.riskLevel)."),
    (f"{PREFIX} User Risk State", "shortText", "user_risk.riskState", "riskState", None,
     "The user's current risk state (riskyUser.riskState)."),
    (f"{PREFIX} Service Principal ID", "shortText", None, None, "servicePrincipalId",
     "The service principal's object id."),
    (f"{PREFIX} Service Principal Display Name", "shortText", None, None,
     "servicePrincipalDisplayName", "The service principal's display name."),
    (f"{PREFIX} App ID", "shortText", None, None, "appId",
     "The application (client) id of the service principal."),
    # what
    (f"{PREFIX} Risk Event Type", "shortText", "riskEventType", None, "riskEventType",
     "The type of risk event detected, e.g. unfamiliarFeatures, leakedCredentials."),
    (f"{PREFIX} Risk Level", "shortText", "riskLevel", None, "riskLevel",
     "The detection's risk level: low, medium, high, hidden or none."),
    (f"{PREFIX} Risk State", "shortText", "riskState", None, "riskState",
     "The detection's risk state, e.g. atRisk, dismissed, remediated, confirmedSafe."),
    (f"{PREFIX} Risk Detail", "shortText", "riskDetail", "riskDetail", "riskDetail",
     "What last changed the risk state, e.g. adminDismissedAllRiskForUser."),
    (f"{PREFIX} Detection Timing Type", "shortText", "detectionTimingType", None,
     "detectionTimingType", "Whether the detection was realtime or offline."),
    (f"{PREFIX} Activity", "shortText", "activity", None, "activity",
     "The activity the detection is linked to: signin, user or servicePrincipal."),
    (f"{PREFIX} Token Issuer Type", "shortText", "tokenIssuerType", None, "tokenIssuerType",
     "The issuer of the token: AzureAD or ADFederationServices."),
    ("Alert Source", None, "source", None, "source", "alertsource"),
    (f"{PREFIX} Additional Info", "longText", "additionalInfo", None, "additionalInfo",
     "Additional information about the detection (a JSON-encoded string from Graph)."),
    # where
    ("Source IP", None, "ipAddress", None, "ipAddress", "sourceip"),
    (f"{PREFIX} City", "shortText", "location.city", None, "location.city",
     "The city of the sign-in."),
    (f"{PREFIX} State", "shortText", "location.state", None, "location.state",
     "The state or province of the sign-in."),
    (f"{PREFIX} Country", "shortText", "location.countryOrRegion", None,
     "location.countryOrRegion", "The country or region of the sign-in, as Graph's two-letter code."),
    (f"{PREFIX} Latitude", "number", "location.geoCoordinates.latitude", None,
     "location.geoCoordinates.latitude", "The latitude of the sign-in location."),
    (f"{PREFIX} Longitude", "number", "location.geoCoordinates.longitude", None,
     "location.geoCoordinates.longitude", "The longitude of the sign-in location."),
    # when
    (f"{PREFIX} Activity Time", "shortText", "activityDateTime", None, "activityDateTime",
     "When the risky activity happened (Graph activityDateTime, UTC)."),
    (f"{PREFIX} Detected Time", "shortText", "detectedDateTime", None, "detectedDateTime",
     "When the risk was detected (Graph detectedDateTime, UTC)."),
    (f"{PREFIX} Last Updated Time", "shortText", "lastUpdatedDateTime",
     "riskLastUpdatedDateTime", "lastUpdatedDateTime",
     "When the detection or the user's risk was last updated (UTC)."),
    # identifiers
    ("Event ID", None, "id", None, "id", "eventid"),
    (f"{PREFIX} Request ID", "shortText", "requestId", None, "requestId",
     "The request id of the sign-in (what confirm-safe of sign-ins takes)."),
    (f"{PREFIX} Correlation ID", "shortText", "correlationId", None, "correlationId",
     "The correlation id of the sign-in."),
]


def cli_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def field_rows():
    """(name, cliName, pack field type or None, {incident type: path}, description)."""
    for name, kind, d, u, s, text in FIELDS:
        paths = {t: p for t, p in zip(ALL_TYPES, (d, u, s)) if p}
        if kind is None:
            yield name, text, None, paths, ""
        else:
            yield name, cli_name(name), kind, paths, text


# --------------------------------------------------------------------------------------------
# Incident fields and types
# --------------------------------------------------------------------------------------------


def incident_field(name: str, cli: str, kind: str, types: list[str], description: str) -> dict:
    return {
        "id": f"incident_{cli}",
        "version": -1,
        "fromVersion": FROM_VERSION,
        "name": name,
        "cliName": cli,
        "type": kind,
        "description": description,
        "associatedToAll": False,
        "associatedTypes": types,
        "caseInsensitive": True,
        "closeForm": False,
        "content": True,
        "editForm": True,
        "group": 0,
        "hidden": False,
        "isReadOnly": False,
        "locked": False,
        "neverSetAsRequired": False,
        "ownerOnly": False,
        "required": False,
        "sla": 0,
        "system": False,
        "threshold": 72,
        "unmapped": False,
        "unsearchable": True,
        "useAsKpi": False,
        "marketplaces": ["xsoar"],
    }


def incident_type(type_id: str, color: str) -> dict:
    return {
        "id": type_id,
        "name": type_id,
        "version": -1,
        "fromVersion": FROM_VERSION,
        "color": color,
        "layout": layout_id(type_id),
        "playbookId": "",
        "hours": 0, "days": 0, "weeks": 0,
        "hoursR": 0, "daysR": 0, "weeksR": 0,
        "system": False,
        "readonly": False,
        "default": False,
        "autorun": False,
        "disabled": False,
        "locked": False,
        "detached": False,
        "reputationCalc": 0,
        "onChangeRepAlg": 0,
        "extractSettings": {"mode": "Specific", "fieldCliNameToExtractSettings": {}},
        "marketplaces": ["xsoar"],
    }


# --------------------------------------------------------------------------------------------
# Classifier and mappers
# --------------------------------------------------------------------------------------------

SEVERITY_BY_RISK_LEVEL = {"low": 1, "medium": 2, "high": 3, "hidden": 0, "none": 0,
                          "unknownFutureValue": 0}


def read(path: str, transformers: list | None = None) -> dict:
    """A mapper value reading `path` of the rawJSON: `simple` for a top-level member, `complex`
    root + accessor for a nested one."""
    if "." not in path and not transformers:
        return {"simple": path}
    root, _, accessor = path.rpartition(".") if "." in path else (path, "", "")
    complex_ = {"root": root, "filters": [], "transformers": transformers or []}
    if accessor:
        complex_["accessor"] = accessor
    return {"complex": complex_}


def severity() -> dict:
    values = list(SEVERITY_BY_RISK_LEVEL)
    return read("riskLevel", [{
        "operator": "MapValuesTransformer",
        "args": {
            "input_values": {"value": {"simple": ",".join(values)}, "isContext": False},
            "mapped_values": {"value": {"simple": ",".join(str(SEVERITY_BY_RISK_LEVEL[v]) for v in values)},
                              "isContext": False},
        },
    }])


def classifier() -> dict:
    return {
        "id": CLASSIFIER,
        "name": CLASSIFIER,
        "type": "classification",
        "description": f"Sends each fetched object to its incident type by the rawJSON member "
                       f"`{CLASSIFY_BY}` that the integration adds.",
        "version": -1,
        "fromVersion": FROM_VERSION,
        "feed": False,
        "propagationLabels": ["all"],
        "transformer": {"simple": CLASSIFY_BY},
        "keyTypeMap": {key: type_id for key, (type_id, _) in KINDS.items()},
        "defaultIncidentType": DETECTION,
        "marketplaces": ["xsoar"],
    }


def mapper_in() -> dict:
    mapping = {
        "dbot_classification_incident_type_all": {
            "dontMapEventToLabels": False,
            "internalMapping": {
                "dbotMirrorId": read("id"),
                "dbotMirrorDirection": read("mirror_direction"),
                "dbotMirrorInstance": read("mirror_instance"),
                "severity": severity(),
            },
        }
    }
    for type_id in ALL_TYPES:
        internal = {name: read(paths[type_id])
                    for name, _, _, paths, _ in field_rows() if type_id in paths}
        mapping[type_id] = {"dontMapEventToLabels": True, "internalMapping": dict(sorted(internal.items()))}
    return {
        "id": MAPPER_IN,
        "name": MAPPER_IN,
        "type": "mapping-incoming",
        "description": "Fills the pack's incident fields from the Graph object in rawJSON.",
        "version": -1,
        "fromVersion": FROM_VERSION,
        "feed": False,
        "mapping": mapping,
        "marketplaces": ["xsoar"],
    }


def mapper_out() -> dict:
    close = {"closeReason": {"simple": "closeReason"}, "closeNotes": {"simple": "closeNotes"}}
    return {
        "id": MAPPER_OUT,
        "name": MAPPER_OUT,
        "type": "mapping-outgoing",
        "description": "Sends the close reason and notes of a closed incident to "
                       "update-remote-system (what closing in Entra acts on).",
        "version": -1,
        "fromVersion": FROM_VERSION,
        "feed": False,
        "mapping": {t: {"dontMapEventToLabels": True, "internalMapping": dict(close)} for t in ALL_TYPES},
        "marketplaces": ["xsoar"],
    }


# --------------------------------------------------------------------------------------------
# Layouts
# --------------------------------------------------------------------------------------------

# section name -> field names (pack fields by name, common fields by name; built-ins by cliName)
SUMMARY = [
    ("Who", ["Source Username", f"{PREFIX} User Display Name", f"{PREFIX} User ID",
             f"{PREFIX} User Risk Level", f"{PREFIX} User Risk State",
             f"{PREFIX} Service Principal Display Name", f"{PREFIX} Service Principal ID",
             f"{PREFIX} App ID"]),
    ("What", ["type", "severity", f"{PREFIX} Risk Event Type", f"{PREFIX} Risk Level",
              f"{PREFIX} Risk State", f"{PREFIX} Risk Detail", f"{PREFIX} Detection Timing Type",
              f"{PREFIX} Activity", f"{PREFIX} Token Issuer Type", "Alert Source"]),
    ("Where", ["Source IP", f"{PREFIX} City", f"{PREFIX} State", f"{PREFIX} Country",
               f"{PREFIX} Latitude", f"{PREFIX} Longitude"]),
    ("When", ["occurred", f"{PREFIX} Activity Time", f"{PREFIX} Detected Time",
              f"{PREFIX} Last Updated Time", "dbotmodified"]),
]
INVESTIGATION = [
    ("Identifiers", ["Event ID", f"{PREFIX} Request ID", f"{PREFIX} Correlation ID",
                     "sourceinstance"]),
    ("Detection details", [f"{PREFIX} Additional Info"]),
    ("Closing", ["closereason", "closenotes", "dbotclosed"]),
]


def _field_ids(type_id: str, names: list[str]) -> list[str]:
    """cliNames of the names that apply to the incident type (built-ins always do)."""
    rows = {name: (cli, paths) for name, cli, _, paths, _ in field_rows()}
    out = []
    for name in names:
        if name in rows:
            cli, paths = rows[name]
            if type_id in paths:
                out.append(cli)
        else:
            out.append(name.lower())
    return out


def _section(tab: str, index: int, name: str, field_ids: list[str]) -> dict:
    items = [{
        "id": f"{tab}-{index}-{n}",
        "index": n,
        "sectionItemType": "field",
        "fieldId": field_id,
        "startCol": 0,
        "endCol": 2,
        "height": 22,
    } for n, field_id in enumerate(field_ids)]
    return {
        "i": f"{tab}-section-{index}",
        "name": name,
        "displayType": "ROW",
        "isVisible": True,
        "w": 1, "h": max(2, (len(items) + 3) // 4),
        "maxW": 3,
        "items": items,
    }


def _flow(sections: list[dict]) -> list[dict]:
    """Places the sections (each with its `w` and `h`) on the 3-column grid, left to right: a row
    is as tall as its tallest section, and its last section widens to the right edge."""
    rows: list[list[dict]] = [[]]
    for section in sections:
        if sum(s["w"] for s in rows[-1]) + section["w"] > 3:
            rows.append([])
        rows[-1].append(section)
    y = 0
    for row in filter(None, rows):
        height, x = max(s["h"] for s in row), 0
        for section in row:
            section.update(x=x, y=y, h=height)
            x += section["w"]
        row[-1]["w"] += 3 - x
        y += height
    return sections


def _tab(tab_id: str, name: str, type_id: str, sections: list, extra: list) -> dict:
    laid = []
    for index, (section_name, names) in enumerate(sections):
        ids = _field_ids(type_id, names)
        if ids:
            laid.append(_section(tab_id, index, section_name, ids))
    return {"id": tab_id, "name": name, "type": "custom", "sections": _flow(laid + extra)}


ACTION_SCRIPT = "AzureADIdentityProtectionRiskAction"
MAP_SCRIPT = "AzureADIdentityProtectionSignInMap"
RAW_SCRIPT = "AzureADIdentityProtectionRawObject"
# Layout buttons run scripts (tag incident-action-button), not integration commands: the pack's
# AzureADIdentityProtectionRiskAction runs the command of the button's action on the incident's
# subject. (label, action, buttonClass)
USER_BUTTONS = [("Dismiss user risk", "dismiss", "warning"),
                ("Confirm user compromised", "confirm-compromised", "error"),
                ("Confirm user safe", "confirm-safe", "success")]
PRINCIPAL_BUTTONS = [("Dismiss service principal risk", "dismiss", "warning"),
                     ("Confirm service principal compromised", "confirm-compromised", "error")]
RESPOND_BUTTONS = {
    DETECTION: [("Show the sign-in", "sign-in", "primary"),
                ("Sign-ins around it", "sign-ins-around", "primary"),
                ("Revoke the user's sessions", "revoke-sessions", "warning"),
                ("Block the sign-in's IP address", "block-ip", "error")],
    RISKY_USER: [("The user's recent sign-ins", "recent-sign-ins", "primary"),
                 ("Revoke the user's sessions", "revoke-sessions", "warning")],
}


def _button_sections(type_id: str) -> list[dict]:
    risk = PRINCIPAL_BUTTONS if type_id == PRINCIPAL else USER_BUTTONS
    sections = [_buttons("summary-actions", "Actions", risk)]
    if type_id in RESPOND_BUTTONS:
        sections.append(_buttons("summary-respond", "Investigate and respond", RESPOND_BUTTONS[type_id]))
    return sections


def _buttons(section_id: str, name: str, buttons: list[tuple[str, str, str]]) -> dict:
    items = [{
        "id": f"action-{action}",
        "index": n,
        "sectionItemType": "button",
        "name": label,
        "fieldId": "",
        "scriptId": ACTION_SCRIPT,
        "args": {"action": {"simple": action}},
        "buttonClass": css,
        "startCol": 0,
        "endCol": 2,
        "height": 44,
    } for n, (label, action, css) in enumerate(buttons)]
    # Two grid rows hold three buttons.
    return {"i": section_id, "name": name, "displayType": "ROW", "isVisible": True,
            "w": 1, "h": max(2, (len(items) + 2) // 2), "maxW": 3, "items": items}


def _dynamic(section_id: str, name: str, script: str, w: int) -> dict:
    """A General Purpose Dynamic Section: XSOAR runs the script and shows its entry."""
    return {"i": section_id, "name": name, "type": "dynamic", "queryType": "script", "query": script,
            "isVisible": True, "w": w, "h": 2, "maxW": 3}


def layout(type_id: str) -> dict:
    notes = {"i": "investigation-notes", "name": "Notes", "type": "notes", "w": 3, "h": 2, "maxW": 3}
    summary_extra = _button_sections(type_id)
    if type_id != RISKY_USER:  # a risky user has no sign-in location
        summary_extra.append(_dynamic("summary-map", "Sign-in location", MAP_SCRIPT, 2))
    raw = _dynamic("investigation-raw", "Raw object from Graph", RAW_SCRIPT, 3)
    return {
        "id": layout_id(type_id),
        "name": layout_id(type_id),
        "group": "incident",
        "version": -1,
        "fromVersion": FROM_VERSION,
        "description": f"The incident page of an {type_id} incident.",
        "system": False,
        "marketplaces": ["xsoar"],
        "detailsV2": {"tabs": [
            _tab("summary", "Incident Summary", type_id, SUMMARY, summary_extra),
            _tab("investigation", "Investigation", type_id, INVESTIGATION, [raw, notes]),
            {"id": "warRoom", "name": "War Room", "type": "warRoom"},
            {"id": "workPlan", "name": "Work Plan", "type": "workPlan"},
        ]},
    }


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def file_stem(item_id: str) -> str:
    """Content's file-name form of an item id: spaces to underscores."""
    return item_id.replace(" ", "_")


def files() -> dict[str, dict]:
    """Relative path under the pack -> JSON content."""
    out: dict[str, dict] = {}
    for type_id, color in KINDS.values():
        out[f"IncidentTypes/incidenttype-{file_stem(type_id)}.json"] = incident_type(type_id, color)
        out[f"Layouts/layoutscontainer-{file_stem(layout_id(type_id))}.json"] = layout(type_id)
    for name, cli, kind, paths, text in field_rows():
        if kind is not None:
            types = [t for t in ALL_TYPES if t in paths]
            out[f"IncidentFields/incidentfield-{file_stem(name)}.json"] = incident_field(name, cli, kind, types, text)
    out[f"Classifiers/classifier-{file_stem(CLASSIFIER)}.json"] = classifier()
    out[f"Classifiers/classifier-mapping-incoming-{file_stem(MAPPER_IN)}.json"] = mapper_in()
    out[f"Classifiers/classifier-{file_stem(MAPPER_OUT)}.json"] = mapper_out()
    return out


def write(pack_dir: Path) -> int:
    """Writes the content files into the pack folder; returns how many."""
    written = files()
    for relative, data in written.items():
        path = pack_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=4) + "\n", encoding="utf-8")
    return len(written)

#!/usr/bin/env python3
"""Draw one tab of a built layoutscontainer as a self-contained HTML page.

    python3 scripts/render_layout.py PACK LAYOUT INCIDENT OUT [--tab NAME] [--note TEXT]

PACK      the built pack folder (Packs/AzureADIdentityProtection from xsoar/build-pack.sh)
LAYOUT    a layoutscontainer JSON of that pack
INCIDENT  one incident as fetch-incidents returns it (name, occurred, severity, rawJSON, ...)
OUT       the HTML file to write

The page arranges the tab the way XSOAR's incident page does: the tab strip, each section a card
on the 3-column grid at its x/y/w/h, field items as "display name: value", buttons as buttons,
dynamic and built-in sections as labelled placeholders. Values are what the pack's classifier and
incoming mapper give the incident (the evaluation of xsoar/tests/test_mapping.py). It is a drawing
of the JSON, not XSOAR: no external resources, plain CSS. Standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import html
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'xsoar', 'tests'))
from test_mapping import COMMON_FIELDS, classify, map_incident  # noqa: E402  (no side effects)

# Built-in fields a layout may name by cliName: cliName -> display name (XSOAR's own labels).
BUILTIN_NAMES = {
    'type': 'Type', 'severity': 'Severity', 'occurred': 'Occurred', 'dbotmodified': 'Modified',
    'owner': 'Owner', 'sourceinstance': 'Source Instance', 'sourcebrand': 'Source Brand',
    'closereason': 'Close Reason', 'closenotes': 'Close Notes', 'dbotclosed': 'Closed',
    'details': 'Details', 'name': 'Name',
}
# Built-ins only XSOAR fills (on save, on close): drawn as such, not invented.
SET_BY_XSOAR = {'dbotmodified', 'owner', 'sourceinstance', 'sourcebrand', 'closereason',
                'closenotes', 'dbotclosed'}
SEVERITY_NAMES = {'0': 'Unknown', '0.5': 'Informational', '1': 'Low', '2': 'Medium', '3': 'High',
                  '4': 'Critical'}
BUTTON_COLOURS = {'warning': '#c77700', 'error': '#c62828', 'success': '#2e7d32'}
MAP_SCRIPT_SUFFIX = 'SignInMap'


# --- the pack ----------------------------------------------------------------------------------

def load_json(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def load_folder(folder):
    return [load_json(os.path.join(folder, n)) for n in sorted(os.listdir(folder)) if n.endswith('.json')]


def field_names(pack):
    """cliName -> display name: the pack's incident fields, CommonTypes fields, built-ins."""
    names = dict(BUILTIN_NAMES)
    names.update({cli: name for name, cli in COMMON_FIELDS.items()})
    names.update({f['cliName']: f['name'] for f in load_folder(os.path.join(pack, 'IncidentFields'))})
    return names


def classifier_and_mapper(pack):
    folder = load_folder(os.path.join(pack, 'Classifiers'))
    by_type = {c['type']: c for c in folder}
    return by_type['classification'], by_type['mapping-incoming']


# --- the incident, as XSOAR would fill it ---------------------------------------------------------

def incident_values(pack, incident):
    """cliName -> value after classification and incoming mapping, plus the incident's own keys."""
    raw = json.loads(incident['rawJSON'])
    classifier, mapper = classifier_and_mapper(pack)
    incident_type = classify(classifier, raw)
    by_name = {name: cli for cli, name in field_names(pack).items()}
    values = {'type': incident_type, 'occurred': incident.get('occurred'),
              'severity': incident.get('severity')}
    for name, value in map_incident(mapper, incident_type, raw).items():
        values[by_name.get(name, name.lower())] = value
    return values


def shown(field_id, value):
    """A value as the incident page would print it."""
    if value is None or value == '':
        return ''
    if field_id == 'severity':
        return SEVERITY_NAMES.get(str(value), str(value))
    if field_id == 'occurred':
        return occurred_text(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def occurred_text(value):
    try:
        moment = datetime.datetime.fromisoformat(str(value).replace('Z', '+00:00'))
    except ValueError:
        return str(value)
    return moment.strftime('%b %-d, %Y %H:%M:%S UTC')


# --- HTML ----------------------------------------------------------------------------------------

def esc(text):
    return html.escape(str(text), quote=True)


def field_item(item, names, values):
    field_id = item.get('fieldId', '')
    name = names.get(field_id)
    if name is None:
        return ('<div class="item field unknown" style="{}"><span class="label">{}</span>'
                '<span class="value">not a field of the pack</span></div>').format(span(item), esc(field_id))
    if field_id in SET_BY_XSOAR:
        value = '<span class="muted">(set by XSOAR)</span>'
    else:
        value = esc(shown(field_id, values.get(field_id))) or '<span class="muted">&mdash;</span>'
    return '<div class="item field" style="{}"><span class="label">{}:</span> <span class="value">{}</span></div>'.format(
        span(item), esc(name), value)


def button_item(item):
    colour = BUTTON_COLOURS.get(item.get('buttonClass'), '#1565c0')
    args = ', '.join('{}={}'.format(k, v.get('simple', '')) for k, v in (item.get('args') or {}).items())
    return ('<div class="item button-row" style="{}"><span class="button" style="background:{}">{}</span>'
            '<div class="muted small">runs {} <span class="nowrap">{}</span></div></div>').format(
        span(item), colour, esc(item.get('name', '')), esc(item.get('scriptId', '')), esc(args))


def span(item):
    start, end = item.get('startCol', 0), item.get('endCol', 2)
    return 'grid-column:{} / {};min-height:{}px'.format(start + 1, max(end, start + 1) + 1, item.get('height', 22))


def items_html(section, names, values):
    items = sorted(section.get('items') or [], key=lambda i: i.get('index', 0))
    parts = [button_item(i) if i.get('sectionItemType') == 'button' else field_item(i, names, values)
             for i in items]
    return '<div class="items {}">{}</div>'.format(section.get('displayType', 'ROW').lower(), ''.join(parts))


def dynamic_html(section, values):
    script = section.get('query', '')
    caption = '<div class="placeholder-title">dynamic section: runs script <b>{}</b></div>'.format(esc(script))
    if script.endswith(MAP_SCRIPT_SUFFIX):
        return '<div class="placeholder">{}{}</div>'.format(caption, map_box(values))
    return '<div class="placeholder">{}<div class="muted">its output is shown here</div></div>'.format(caption)


def map_box(values):
    """The map the script asks XSOAR for, as a plain box with the point it would show."""
    lat = values.get('azureadidentityprotectionlatitude')
    lng = values.get('azureadidentityprotectionlongitude')
    if lat in (None, '') or lng in (None, ''):
        return '<div class="muted">Graph reported no coordinates for this sign-in.</div>'
    left, top = (float(lng) + 180) / 3.6, (90 - float(lat)) / 1.8
    place = ', '.join(str(values[k]) for k in ('azureadidentityprotectioncity', 'azureadidentityprotectionstate',
                                               'azureadidentityprotectioncountry') if values.get(k))
    return ('<div class="map"><div class="pin" style="left:{:.2f}%;top:{:.2f}%"></div></div>'
            '<div class="coords">map entry {{"lat": {}, "lng": {}}}<span class="muted"> &middot; {}</span></div>').format(
        left, top, esc(lat), esc(lng), esc(place))


def section_html(section, names, values):
    kind = section.get('type')
    if kind == 'dynamic':
        body = dynamic_html(section, values)
    elif kind:
        body = '<div class="placeholder"><div class="placeholder-title">built-in section: {}</div></div>'.format(esc(kind))
    else:
        body = items_html(section, names, values)
    x, y, w, h = (section.get(k, 0) for k in ('x', 'y', 'w', 'h'))
    style = 'grid-column:{} / span {};grid-row:{} / span {}'.format(x + 1, max(w, 1), y + 1, max(h, 1))
    return '<section class="card" style="{}"><h2>{}</h2>{}</section>'.format(style, esc(section.get('name', '')), body)


def tabs_html(tabs, active):
    return '<nav class="tabs">{}</nav>'.format(''.join(
        '<span class="tab{}">{}</span>'.format(' active' if t.get('name') == active else '', esc(t.get('name', '')))
        for t in tabs))


def page(layout, tab_name, pack, incident, note):
    tabs = layout['detailsV2']['tabs']
    tab = next((t for t in tabs if t.get('name') == tab_name), None)
    if tab is None:
        raise SystemExit('render_layout: {} has no tab named {!r}'.format(layout.get('id'), tab_name))
    names, values = field_names(pack), incident_values(pack, incident)
    sections = [s for s in tab.get('sections') or [] if s.get('isVisible', True)]
    grid = ''.join(section_html(s, names, values) for s in sections)
    footer = ('A drawing of the layout JSON &ldquo;{}&rdquo; (tab &ldquo;{}&rdquo;) by scripts/render_layout.py, '
              'with the values the pack&rsquo;s classifier and incoming mapper give the incident above{}. '
              'Sections are placed at their x/y/w/h as written. Not a screenshot of XSOAR.').format(
        esc(layout.get('name', '')), esc(tab_name), esc(note))
    header = '<header><div class="title">{}</div><div class="muted">{} &middot; severity {}</div></header>'.format(
        esc(incident.get('name', '')), esc(values['type']), esc(shown('severity', values.get('severity'))))
    return TEMPLATE.format(title=esc(layout.get('name', '')), css=CSS, header=header,
                           tabs=tabs_html(tabs, tab_name), grid=grid, footer=footer)


TEMPLATE = '''<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{css}</style></head>
<body>{header}{tabs}<main class="grid">{grid}</main><footer>{footer}</footer></body></html>
'''

CSS = '''
* { box-sizing: border-box; }
body { margin: 0; font: 12px/1.35 "DejaVu Sans", Arial, sans-serif; color: #1f2933; background: #eef1f5; }
header { padding: 10px 16px 6px; background: #fff; }
header .title { font-size: 15px; font-weight: bold; }
.tabs { display: flex; gap: 4px; padding: 0 16px; background: #fff; border-bottom: 1px solid #d5dbe3; }
.tab { padding: 7px 14px; color: #52606d; border-bottom: 3px solid transparent; }
.tab.active { color: #0b5cad; border-bottom-color: #0b5cad; font-weight: bold; }
.grid { display: grid; grid-template-columns: repeat(3, 1fr); grid-auto-rows: minmax(100px, auto);
        gap: 10px; padding: 10px 16px; }
.card { background: #fff; border: 1px solid #d5dbe3; border-radius: 4px; padding: 6px 10px 8px; overflow: hidden; }
.card h2 { margin: 0 0 4px; font-size: 13px; color: #323f4b; border-bottom: 1px solid #e4e7eb; padding-bottom: 3px; }
.items { display: grid; grid-template-columns: 1fr 1fr; row-gap: 1px; }
.item.field { padding: 2px 0; }
.items.card .item.field .label { display: block; }
.label { color: #616e7c; }
.value { color: #102a43; display: inline-block; max-width: 100%; overflow-wrap: anywhere; }
.unknown .label { color: #c62828; font-weight: bold; }
.unknown .value { color: #c62828; }
.muted { color: #9aa5b1; }
.small { font-size: 11px; }
.nowrap { white-space: nowrap; }
.button-row { padding: 3px 0; }
.button { display: inline-block; min-width: 200px; padding: 6px 12px; white-space: nowrap; border-radius: 3px; color: #fff;
          font-weight: bold; text-align: center; }
.placeholder { border: 1px dashed #9aa5b1; border-radius: 3px; padding: 6px 8px; background: #f8f9fb; }
.placeholder-title { color: #52606d; margin-bottom: 5px; }
.map { position: relative; height: 150px; background-color: #dcecf7;
       background-image: linear-gradient(to right, #b9d3e6 1px, transparent 1px),
                         linear-gradient(to bottom, #b9d3e6 1px, transparent 1px);
       background-size: 8.3333% 16.6667%; border: 1px solid #b9d3e6; }
.pin { position: absolute; width: 12px; height: 12px; margin: -6px 0 0 -6px; border-radius: 50%;
       background: #c62828; border: 2px solid #fff; box-shadow: 0 0 0 1px #c62828; }
.coords { margin-top: 4px; font-family: "DejaVu Sans Mono", monospace; font-size: 11px; }
footer { padding: 4px 16px 10px; color: #52606d; font-style: italic; }
'''


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('pack')
    parser.add_argument('layout')
    parser.add_argument('incident')
    parser.add_argument('out')
    parser.add_argument('--tab', default='Incident Summary')
    parser.add_argument('--note', default='', help='where the incident came from, appended to the footer after "the incident above"')
    args = parser.parse_args()
    text = page(load_json(args.layout), args.tab, args.pack, load_json(args.incident), args.note)
    with open(args.out, 'w', encoding='utf-8') as f:
        f.write(text)
    print(args.out)


if __name__ == '__main__':
    main()

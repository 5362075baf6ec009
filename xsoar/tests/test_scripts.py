"""The pack's automation scripts (xsoar/pack/Scripts), run as XSOAR runs them, and the layouts
that call them.

The pack is built fresh (xsoar/build_pack.py into a scratch folder) and the scripts are taken
from there: what ships. Each script is stripped of its `import demistomock` / `from
CommonServerPython import *` lines, as `demisto-sdk unify` strips them, and run by
xsoar_runtime/run_integration.py: the stand-in CommonServerPython's code first, one namespace,
`__name__` 'builtins'. The incident, the button's arguments and the integration's answers go in
through the stand-in demistomock's state file (`incident`, `args`, `command_results`); what the
script did comes back in its outcome (`results`, `executed_commands`, `exception`).

Expected values are XSOAR's documented ones, written here as literals, never read from the
scripts: entry Type 1 is a note, 4 an error, 15 a map entry (EntryType.MAP_ENTRY_TYPE, with
ContentsFormat json and Contents {lat, lng}, as content's ShowOnMap / GoogleMaps scripts return
it); a layout button runs the script its `scriptId` names with `args` {name: {"simple": value}};
a dynamic section (`type: dynamic`, `queryType: script`) runs the script its `query` names. The
incident's CustomFields are keyed by the cliNames of the pack's built incident fields.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

import yaml

from test_mapping import build_pack, classify, load_json_folder, map_incident

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RUNTIME = os.path.join(HERE, 'xsoar_runtime')
RUNNER = os.path.join(RUNTIME, 'run_integration.py')
FIXTURE = os.path.join(HERE, 'fixtures', 'incidents.json')

ACTION = 'AzureADIdentityProtectionRiskAction'
MAP = 'AzureADIdentityProtectionSignInMap'
RAW = 'AzureADIdentityProtectionRawObject'
PREFIX = 'Azure AD Identity Protection '
DETECTION = PREFIX + 'Risk Detection'
RISKY_USER = PREFIX + 'Risky User'
PRINCIPAL = PREFIX + 'Service Principal Risk Detection'

# The integration command each button action runs, per kind of subject, and its id argument.
USER_COMMANDS = {
    'dismiss': 'azure-ad-identity-protection-risky-user-dismiss',
    'confirm-compromised': 'azure-ad-identity-protection-risky-user-confirm-compromised',
    'confirm-safe': 'azure-ad-identity-protection-risky-user-confirm-safe',
}
PRINCIPAL_COMMANDS = {
    'dismiss': 'azure-ad-identity-protection-risky-service-principal-dismiss',
    'confirm-compromised': 'azure-ad-identity-protection-risky-service-principal-confirm-compromised',
}
USER_ID_ARG = 'user_ids'
PRINCIPAL_ID_ARG = 'service_principal_ids'

# XSOAR entry types (CommonServerPython's EntryType).
NOTE, ERROR, MAP_ENTRY = 1, 4, 15

# The lines `demisto-sdk unify` takes out of a script: the server puts CommonServerPython first.
UNIFY_STRIPS = (re.compile(r'^import demistomock as demisto\b.*\n', re.M),
                re.compile(r'^from CommonServerPython import \*.*\n', re.M))


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


def entry_types(outcome):
    return [entry.get('Type') if isinstance(entry, dict) else 'text' for entry in outcome['results']]


def command_entry(contents, human_readable):
    """An integration command's answer as demisto.executeCommand hands it to a script."""
    return [{'Type': NOTE, 'ContentsFormat': 'json', 'Contents': contents, 'HumanReadable': human_readable,
             'Brand': 'AzureADIdentityProtection', 'ModuleName': 'AzureADIdentityProtection_instance_1'}]


def error_entry(message):
    return [{'Type': ERROR, 'ContentsFormat': 'text', 'Contents': message,
             'Brand': 'AzureADIdentityProtection', 'ModuleName': 'AzureADIdentityProtection_instance_1'}]


def markdown_code_block(text):
    """The text of the one ```json fenced block in a Markdown text."""
    match = re.fullmatch(r'```json\n(.*)\n```', text, re.S)
    return match.group(1) if match else None


class PackCase(unittest.TestCase):
    """The built pack, its scripts ready to run, and the pack fields' cliNames."""

    @classmethod
    def setUpClass(cls):
        cls.scratch = tempfile.TemporaryDirectory(prefix='scripts-test-')
        cls.pack = build_pack(cls.scratch.name)
        cls.fields = {f['name']: f for f in load_json_folder(os.path.join(cls.pack, 'IncidentFields'))}
        cls.user_field = cls.fields[PREFIX + 'User ID']['cliName']
        cls.principal_field = cls.fields[PREFIX + 'Service Principal ID']['cliName']
        cls.latitude_field = cls.fields[PREFIX + 'Latitude']['cliName']
        cls.longitude_field = cls.fields[PREFIX + 'Longitude']['cliName']
        cls.runnable = {}
        for name in (ACTION, MAP, RAW):
            with open(cls.script_file(name, '.py')) as f:
                code = f.read()
            for line in UNIFY_STRIPS:
                code, count = line.subn('', code)
                if count != 1:
                    raise AssertionError('{}: expected the import `{}` once'.format(name, line.pattern))
            cls.runnable[name] = os.path.join(cls.scratch.name, name + '.py')
            with open(cls.runnable[name], 'w') as f:
                f.write(code)

    @classmethod
    def tearDownClass(cls):
        cls.scratch.cleanup()

    @classmethod
    def script_file(cls, name, suffix):
        return os.path.join(cls.pack, 'Scripts', name, name + suffix)

    def run_script(self, name, incident, args=None, command_results=None):
        """Runs the script once in the incident; returns demistomock's outcome, with the
        process's return code and stderr."""
        state = {'command': '', 'args': args or {}, 'params': {}, 'incident': incident,
                 'command_results': command_results or {}}
        path = os.path.join(self.scratch.name, 'state.json')
        with open(path, 'w') as f:
            json.dump(state, f)
        environment = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'PYTHONPATH': RUNTIME,
                       'PYTHONDONTWRITEBYTECODE': '1', 'DEMISTOMOCK_STATE': path}
        done = subprocess.run([sys.executable, RUNNER, self.runnable[name]], env=environment,
                              capture_output=True, text=True, timeout=60)
        with open(path) as f:
            outcome = json.load(f)['outcome']
        outcome['returncode'] = done.returncode
        outcome['stderr'] = done.stderr
        return outcome

    def assertNoTraceback(self, outcome):
        self.assertIsNone(outcome['exception'], outcome)
        self.assertEqual(outcome['returncode'], 0, outcome['stderr'])
        self.assertNotIn('Traceback', outcome['stderr'])

    def assertOneError(self, outcome, *phrases):
        self.assertNoTraceback(outcome)
        self.assertEqual(entry_types(outcome), [ERROR], outcome['results'])
        for phrase in phrases:
            self.assertIn(phrase, outcome['results'][0]['Contents'])

    def assertOneNote(self, outcome):
        """The one result is a note: a plain text (the server shows it as one) or a Type 1 entry.
        Returns its text."""
        self.assertNoTraceback(outcome)
        self.assertEqual(len(outcome['results']), 1, outcome['results'])
        result = outcome['results'][0]
        if isinstance(result, str):
            return result
        self.assertEqual(result['Type'], NOTE, result)
        return result['Contents']


# ---- AzureADIdentityProtectionRiskAction ------------------------------------------------------

class RiskAction(PackCase):
    def user_incident(self, user_id='u-1'):
        return {'id': '11', 'type': DETECTION, 'CustomFields': {self.user_field: user_id}}

    def principal_incident(self, principal_id='sp-1'):
        return {'id': '12', 'type': PRINCIPAL, 'CustomFields': {self.principal_field: principal_id}}

    def answers(self, commands, body):
        return {command: command_entry(body, 'done') for command in commands.values()}

    def test_each_user_action_runs_exactly_its_command_with_user_ids(self):
        for action, command in USER_COMMANDS.items():
            with self.subTest(action=action):
                outcome = self.run_script(ACTION, self.user_incident('u-1'), {'action': action},
                                          self.answers(USER_COMMANDS, {'userIds': ['u-1']}))
                self.assertNoTraceback(outcome)
                self.assertEqual(outcome['executed_commands'], [{'command': command, 'args': {USER_ID_ARG: 'u-1'}}])
                self.assertNotIn(ERROR, entry_types(outcome))
                self.assertEqual(len(outcome['results']), 1, outcome['results'])

    def test_the_commands_own_entry_is_shown_and_the_fetching_instance_acts(self):
        incident = dict(self.user_incident('u-1'), sourceInstance='Entra prod')
        command = USER_COMMANDS['dismiss']
        outcome = self.run_script(ACTION, incident, {'action': 'dismiss'},
                                  self.answers(USER_COMMANDS, {'userIds': ['u-1']}))
        self.assertNoTraceback(outcome)
        self.assertEqual(outcome['executed_commands'],
                         [{'command': command, 'args': {USER_ID_ARG: 'u-1', 'using': 'Entra prod'}}])
        shown = outcome['results'][0]
        shown = shown[0] if isinstance(shown, list) else shown
        self.assertEqual((shown['Type'], shown['HumanReadable']), (NOTE, 'done'), outcome['results'])

    def test_each_principal_action_runs_exactly_its_command_with_service_principal_ids(self):
        for action, command in PRINCIPAL_COMMANDS.items():
            with self.subTest(action=action):
                outcome = self.run_script(ACTION, self.principal_incident('sp-1'), {'action': action},
                                          self.answers(PRINCIPAL_COMMANDS, {'servicePrincipalIds': ['sp-1']}))
                self.assertNoTraceback(outcome)
                self.assertEqual(outcome['executed_commands'],
                                 [{'command': command, 'args': {PRINCIPAL_ID_ARG: 'sp-1'}}])
                self.assertNotIn(ERROR, entry_types(outcome))

    def test_confirm_safe_is_no_action_on_a_service_principal(self):
        outcome = self.run_script(ACTION, self.principal_incident(), {'action': 'confirm-safe'},
                                  self.answers(PRINCIPAL_COMMANDS, {}))
        self.assertOneError(outcome, 'confirm-safe')
        self.assertEqual(outcome['executed_commands'], [])

    def test_an_unknown_or_missing_action_runs_nothing(self):
        for args in ({'action': 'delete'}, {'action': ''}, {}):
            for incident in (self.user_incident(), self.principal_incident()):
                with self.subTest(args=args, incident=incident['type']):
                    outcome = self.run_script(ACTION, incident, args, self.answers(USER_COMMANDS, {}))
                    self.assertOneError(outcome)
                    self.assertEqual(outcome['executed_commands'], [])

    def test_an_incident_with_neither_id_is_one_error_and_runs_nothing(self):
        for fields in ({}, None, {self.user_field: '', self.principal_field: ''}):
            with self.subTest(fields=fields):
                incident = {'id': '13', 'type': RISKY_USER, 'CustomFields': fields}
                outcome = self.run_script(ACTION, incident, {'action': 'dismiss'}, self.answers(USER_COMMANDS, {}))
                self.assertOneError(outcome, 'neither')
                self.assertEqual(outcome['executed_commands'], [])

    def test_the_commands_error_entry_is_surfaced_as_an_error(self):
        graph_error = 'Graph answered 403 Forbidden: IdentityRiskyUser.ReadWrite.All is missing'
        outcome = self.run_script(ACTION, self.user_incident(), {'action': 'dismiss'},
                                  {USER_COMMANDS['dismiss']: error_entry(graph_error)})
        self.assertOneError(outcome, graph_error)
        self.assertEqual(len(outcome['executed_commands']), 1)

    def test_the_commands_are_the_integrations_with_the_id_argument(self):
        definition = load_yaml(os.path.join(REPO, 'integration.yml'))
        declared = {c['name']: {a['name'] for a in c.get('arguments', [])} for c in definition['script']['commands']}
        for commands, argument in ((USER_COMMANDS, USER_ID_ARG), (PRINCIPAL_COMMANDS, PRINCIPAL_ID_ARG)):
            for command in commands.values():
                with self.subTest(command=command):
                    self.assertIn(command, declared)
                    self.assertIn(argument, declared[command])


# ---- AzureADIdentityProtectionSignInMap -------------------------------------------------------

class SignInMap(PackCase):
    def incident(self, **coordinates):
        fields = {self.user_field: 'u-1'}
        names = {'latitude': self.latitude_field, 'longitude': self.longitude_field}
        fields.update({names[key]: value for key, value in coordinates.items()})
        return {'id': '21', 'type': DETECTION, 'CustomFields': fields}

    def test_coordinates_give_one_map_entry(self):
        for latitude, longitude in ((38.7223, -9.1393), (-33.8688, 151.2093), (47, -122)):
            with self.subTest(latitude=latitude, longitude=longitude):
                outcome = self.run_script(MAP, self.incident(latitude=latitude, longitude=longitude))
                self.assertNoTraceback(outcome)
                self.assertEqual(outcome['results'], [
                    {'Type': MAP_ENTRY, 'ContentsFormat': 'json', 'Contents': {'lat': latitude, 'lng': longitude}}])

    def test_without_coordinates_a_note_and_no_map(self):
        cases = ({}, {'latitude': 38.7}, {'longitude': -9.1}, {'latitude': '', 'longitude': ''},
                 {'latitude': None, 'longitude': None})
        for coordinates in cases:
            with self.subTest(coordinates=coordinates):
                outcome = self.run_script(MAP, self.incident(**coordinates))
                self.assertIn('coordinates', self.assertOneNote(outcome))
                self.assertNotIn(MAP_ENTRY, entry_types(outcome))

    def test_an_incident_without_custom_fields_is_a_note(self):
        outcome = self.run_script(MAP, {'id': '22', 'type': RISKY_USER})
        self.assertIn('coordinates', self.assertOneNote(outcome))

    def test_coordinates_that_are_no_numbers_are_an_error_not_a_traceback(self):
        outcome = self.run_script(MAP, self.incident(latitude='north', longitude='west'))
        self.assertOneError(outcome)


# ---- AzureADIdentityProtectionRawObject -------------------------------------------------------

class RawObject(PackCase):
    def test_the_raw_json_indented_in_a_markdown_block(self):
        raw = {'id': 'd-1', 'riskEventType': 'unfamiliarFeatures',
               'location': {'city': 'Lisboa', 'geoCoordinates': {'latitude': 38.7223, 'longitude': -9.1393}},
               'entra_object_type': 'riskDetection'}
        outcome = self.run_script(RAW, {'id': '31', 'rawJSON': json.dumps(raw, separators=(',', ':'))})
        self.assertNoTraceback(outcome)
        self.assertEqual(entry_types(outcome), [NOTE])
        entry = outcome['results'][0]
        self.assertEqual(entry['ContentsFormat'], 'markdown')
        block = markdown_code_block(entry['Contents'])
        self.assertIsNotNone(block, entry['Contents'])
        self.assertEqual(json.loads(block), raw)
        self.assertIn('\n  "location": {\n    "city"', block, 'indented')

    def test_text_outside_ascii_is_shown_as_itself(self):
        raw = {'userDisplayName': 'José Müller', 'location': {'city': 'Zürich'}, 'userPrincipalName': 'テスト@contoso.example'}
        outcome = self.run_script(RAW, {'id': '32', 'rawJSON': json.dumps(raw)})
        self.assertNoTraceback(outcome)
        block = markdown_code_block(outcome['results'][0]['Contents'])
        self.assertEqual(json.loads(block), raw)
        for text in ('José Müller', 'Zürich', 'テスト@contoso.example'):
            self.assertIn(text, block)

    def test_a_missing_raw_json_is_a_note(self):
        for incident in ({'id': '33'}, {'id': '33', 'rawJSON': ''}, {'id': '33', 'rawJSON': None}):
            with self.subTest(incident=incident):
                text = self.assertOneNote(self.run_script(RAW, incident))
                self.assertIn('no raw object', text)

    def test_an_invalid_raw_json_is_a_note_with_the_text(self):
        raw = '{"id": "d-1", truncated'
        text = self.assertOneNote(self.run_script(RAW, {'id': '34', 'rawJSON': raw}))
        self.assertIn(raw, text)


# ---- the scripts' yml and the layouts that use them ------------------------------------------

class ScriptDefinitions(PackCase):
    TAGS = {ACTION: 'incident-action-button', MAP: 'dynamic-section', RAW: 'dynamic-section'}

    def test_each_script_is_a_python3_script_with_the_tag_xsoar_needs(self):
        for name, tag in self.TAGS.items():
            with self.subTest(script=name):
                definition = load_yaml(self.script_file(name, '.yml'))
                self.assertEqual(definition['commonfields']['id'], name)
                self.assertEqual(definition['name'], name)
                self.assertEqual(definition['type'], 'python')
                self.assertEqual(definition['subtype'], 'python3')
                self.assertIn(tag, definition.get('tags') or [])
                self.assertIn(definition['script'], ('', '-'), 'split form: the code is the .py file')
                self.assertTrue(definition['dockerimage'].startswith('demisto/python3:'))

    def test_the_action_argument_offers_every_action_and_only_those(self):
        definition = load_yaml(self.script_file(ACTION, '.yml'))
        arguments = {a['name']: a for a in definition.get('args', [])}
        self.assertEqual(set(arguments), {'action'})
        self.assertTrue(arguments['action'].get('required'))
        self.assertEqual(set(arguments['action']['predefined']), set(USER_COMMANDS) | set(PRINCIPAL_COMMANDS))


class Layouts(PackCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        types = load_json_folder(os.path.join(cls.pack, 'IncidentTypes'))
        layouts = {layout['id']: layout for layout in load_json_folder(os.path.join(cls.pack, 'Layouts'))}
        cls.layout_of = {t['id']: layouts[t['layout']] for t in types}
        cls.scripts = {name: load_yaml(cls.script_file(name, '.yml')) for name in (ACTION, MAP, RAW)}

    def sections(self, layout):
        for tab in layout['detailsV2']['tabs']:
            yield from tab.get('sections', [])

    def buttons(self, layout):
        for section in self.sections(layout):
            for item in section.get('items', []):
                if item.get('sectionItemType') == 'button':
                    yield item

    def dynamic_queries(self, layout):
        return [s['query'] for s in self.sections(layout) if s.get('type') == 'dynamic']

    def incident_of_type(self, incident_type):
        """An incident with a value in each of the scripts' fields the type has."""
        values = {self.user_field: 'u-1', self.principal_field: 'sp-1',
                  self.latitude_field: 38.7223, self.longitude_field: -9.1393}
        fields = {f['cliName']: values[f['cliName']] for f in self.fields.values()
                  if f['cliName'] in values and incident_type in f['associatedTypes']}
        return {'id': '41', 'type': incident_type, 'CustomFields': fields}

    def test_every_incident_type_has_a_layout_with_buttons(self):
        self.assertEqual(set(self.layout_of), {DETECTION, RISKY_USER, PRINCIPAL})
        for incident_type, layout in self.layout_of.items():
            with self.subTest(incident_type=incident_type):
                self.assertTrue(list(self.buttons(layout)))

    def test_buttons_name_the_action_script_and_pass_the_arguments_it_reads(self):
        definition = self.scripts[ACTION]
        arguments = {a['name']: a for a in definition['args']}
        required = {name for name, a in arguments.items() if a.get('required')}
        for incident_type, layout in self.layout_of.items():
            for button in self.buttons(layout):
                with self.subTest(incident_type=incident_type, button=button['name']):
                    self.assertEqual(button['scriptId'], definition['commonfields']['id'])
                    self.assertLessEqual(required, set(button['args']))
                    self.assertLessEqual(set(button['args']), set(arguments))
                    for value in button['args'].values():
                        self.assertEqual(set(value), {'simple'})
                    self.assertIn(button['args']['action']['simple'], arguments['action']['predefined'])

    def test_every_button_runs_its_command_on_an_incident_of_the_layouts_type(self):
        for incident_type, layout in self.layout_of.items():
            commands = PRINCIPAL_COMMANDS if incident_type == PRINCIPAL else USER_COMMANDS
            actions = set()
            for button in self.buttons(layout):
                args = {name: value['simple'] for name, value in button['args'].items()}
                actions.add(args['action'])
                with self.subTest(incident_type=incident_type, button=button['name']):
                    answers = {c: command_entry({}, 'done') for c in commands.values()}
                    outcome = self.run_script(ACTION, self.incident_of_type(incident_type), args, answers)
                    self.assertNoTraceback(outcome)
                    self.assertNotIn(ERROR, entry_types(outcome), outcome['results'])
                    self.assertEqual([c['command'] for c in outcome['executed_commands']], [commands[args['action']]])
            with self.subTest(incident_type=incident_type):
                self.assertEqual(actions, set(commands), 'one button per action on this kind')

    def test_dynamic_sections_name_dynamic_section_scripts(self):
        dynamic = {name for name, d in self.scripts.items() if 'dynamic-section' in d.get('tags', [])}
        for incident_type, layout in self.layout_of.items():
            with self.subTest(incident_type=incident_type):
                queries = self.dynamic_queries(layout)
                self.assertLessEqual(set(queries), {self.scripts[n]['commonfields']['id'] for n in dynamic})
                for section in self.sections(layout):
                    if section.get('type') == 'dynamic':
                        self.assertEqual(section['queryType'], 'script')
                self.assertIn(RAW, queries)

    def test_the_map_is_on_the_layouts_of_types_with_coordinates(self):
        latitude = set(self.fields[PREFIX + 'Latitude']['associatedTypes'])
        longitude = set(self.fields[PREFIX + 'Longitude']['associatedTypes'])
        for incident_type, layout in self.layout_of.items():
            with self.subTest(incident_type=incident_type):
                has_coordinates = incident_type in latitude and incident_type in longitude
                self.assertEqual(MAP in self.dynamic_queries(layout), has_coordinates)


class FetchedIncidents(PackCase):
    """The fixture's fetched incidents (one of each kind), classified and mapped as XSOAR does
    (test_mapping's classify / map_incident), then worked from their layouts."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        classifiers = load_json_folder(os.path.join(cls.pack, 'Classifiers'))
        cls.classifier = next(c for c in classifiers if c['type'] == 'classification')
        cls.mapper = next(c for c in classifiers if c['type'] == 'mapping-incoming')
        types = load_json_folder(os.path.join(cls.pack, 'IncidentTypes'))
        layouts = {layout['id']: layout for layout in load_json_folder(os.path.join(cls.pack, 'Layouts'))}
        cls.layout_of = {t['id']: layouts[t['layout']] for t in types}
        with open(FIXTURE) as f:
            cls.fetched = json.load(f)

    def as_xsoar_incident(self, fetched):
        raw = json.loads(fetched['rawJSON'])
        incident_type = classify(self.classifier, raw)
        mapped = map_incident(self.mapper, incident_type, raw)
        fields = {self.fields[name]['cliName']: value for name, value in mapped.items() if name in self.fields}
        return raw, {'id': '51', 'type': incident_type, 'rawJSON': fetched['rawJSON'], 'CustomFields': fields}

    def test_buttons_act_on_the_fetched_subject(self):
        for fetched in self.fetched:
            raw, incident = self.as_xsoar_incident(fetched)
            principal = incident['type'] == PRINCIPAL
            commands, argument = (PRINCIPAL_COMMANDS, PRINCIPAL_ID_ARG) if principal else (USER_COMMANDS, USER_ID_ARG)
            subject = raw['servicePrincipalId'] if principal else raw.get('userId') or raw['id']
            for section in (s for tab in self.layout_of[incident['type']]['detailsV2']['tabs']
                            for s in tab.get('sections', [])):
                for button in (i for i in section.get('items', []) if i.get('sectionItemType') == 'button'):
                    action = button['args']['action']['simple']
                    with self.subTest(incident_type=incident['type'], action=action):
                        answers = {c: command_entry({}, 'done') for c in commands.values()}
                        outcome = self.run_script(ACTION, incident, {'action': action}, answers)
                        self.assertNoTraceback(outcome)
                        self.assertEqual(outcome['executed_commands'],
                                         [{'command': commands[action], 'args': {argument: subject}}])

    def test_the_map_shows_the_fetched_sign_in(self):
        for fetched in self.fetched:
            raw, incident = self.as_xsoar_incident(fetched)
            coordinates = (raw.get('location') or {}).get('geoCoordinates')
            with self.subTest(incident_type=incident['type']):
                outcome = self.run_script(MAP, incident)
                if coordinates:
                    self.assertEqual(outcome['results'], [{'Type': MAP_ENTRY, 'ContentsFormat': 'json', 'Contents': {
                        'lat': coordinates['latitude'], 'lng': coordinates['longitude']}}])
                else:
                    self.assertIn('coordinates', self.assertOneNote(outcome))

    def test_the_raw_object_is_the_fetched_object(self):
        for fetched in self.fetched:
            raw, incident = self.as_xsoar_incident(fetched)
            with self.subTest(incident_type=incident['type']):
                outcome = self.run_script(RAW, incident)
                self.assertNoTraceback(outcome)
                self.assertEqual(json.loads(markdown_code_block(outcome['results'][0]['Contents'])), raw)


if __name__ == '__main__':
    unittest.main()

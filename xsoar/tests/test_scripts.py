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

from test_mapping import COMMON_FIELDS, build_pack, classify, load_json_folder, map_incident

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

# The incident fields the actions read (pack fields by name, CommonTypes fields by name).
USER_ID = PREFIX + 'User ID'
PRINCIPAL_ID = PREFIX + 'Service Principal ID'
DETECTION_ID = 'Event ID'
SOURCE_IP = 'Source IP'

# What each button action runs on each kind of incident: action -> (the integration command,
# {its argument: the incident field whose value it takes}, {its argument: a fixed value}).
USER_ACTIONS = {
    'dismiss': ('azure-ad-identity-protection-risky-user-dismiss', {'user_ids': USER_ID}, {}),
    'confirm-compromised': ('azure-ad-identity-protection-risky-user-confirm-compromised', {'user_ids': USER_ID}, {}),
    'confirm-safe': ('azure-ad-identity-protection-risky-user-confirm-safe', {'user_ids': USER_ID}, {}),
    'revoke-sessions': ('azure-ad-identity-protection-user-sessions-revoke', {'user_id': USER_ID}, {}),
}
ACTIONS = {
    DETECTION: {
        **USER_ACTIONS,
        'sign-in': ('azure-ad-identity-protection-sign-in-get', {'detection_id': DETECTION_ID}, {}),
        'sign-ins-around': ('azure-ad-identity-protection-sign-ins-list', {'around_detection_id': DETECTION_ID}, {}),
        'block-ip': ('azure-ad-identity-protection-ip-block', {'ip': SOURCE_IP}, {}),
    },
    RISKY_USER: {
        **USER_ACTIONS,
        'recent-sign-ins': ('azure-ad-identity-protection-sign-ins-list', {'user_id': USER_ID},
                            {'start_time': '7 days'}),
    },
    PRINCIPAL: {
        'dismiss': ('azure-ad-identity-protection-risky-service-principal-dismiss',
                    {'service_principal_ids': PRINCIPAL_ID}, {}),
        'confirm-compromised': ('azure-ad-identity-protection-risky-service-principal-confirm-compromised',
                                {'service_principal_ids': PRINCIPAL_ID}, {}),
    },
}
ALL_ACTIONS = set().union(*ACTIONS.values())
# The buttons issue 17 asks for beside the risk actions: label -> action, per layout.
RESPOND_SECTION = 'Investigate and respond'
RESPOND_BUTTONS = {
    DETECTION: {'Show the sign-in': 'sign-in', 'Sign-ins around it': 'sign-ins-around',
                "Revoke the user's sessions": 'revoke-sessions', "Block the sign-in's IP address": 'block-ip'},
    RISKY_USER: {"Revoke the user's sessions": 'revoke-sessions', "The user's recent sign-ins": 'recent-sign-ins'},
}

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


def expected_run(incident_type, action, values):
    """{command, args} the action runs on an incident of the type whose fields (by name) hold values."""
    command, from_fields, fixed = ACTIONS[incident_type][action]
    args = {argument: values[field] for argument, field in from_fields.items()}
    args.update(fixed)
    return {'command': command, 'args': args}


def answers_for(incident_type, body=None):
    """Every command of the kind's actions answers one note."""
    return {command: command_entry(body or {}, 'done') for command, _, _ in ACTIONS[incident_type].values()}


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
        cls.cli_names = {**COMMON_FIELDS, **{name: cls.fields[name]['cliName'] for name in (USER_ID, PRINCIPAL_ID)}}
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
    # The fields of an incident of each kind, by name.
    VALUES = {
        DETECTION: {USER_ID: 'u-1', DETECTION_ID: 'd-1', SOURCE_IP: '203.0.113.45'},
        RISKY_USER: {USER_ID: 'u-1'},
        PRINCIPAL: {PRINCIPAL_ID: 'sp-1', DETECTION_ID: 'd-2', SOURCE_IP: '198.51.100.7'},
    }

    def incident(self, incident_type, values=None, **extra):
        values = self.VALUES[incident_type] if values is None else values
        fields = {self.cli_names[name]: value for name, value in values.items()}
        return {'id': '11', 'type': incident_type, 'CustomFields': fields, **extra}

    def each_action(self):
        for incident_type, actions in ACTIONS.items():
            for action in actions:
                yield incident_type, action

    def test_each_action_runs_exactly_its_command_and_arguments_on_each_kind(self):
        for incident_type, action in self.each_action():
            with self.subTest(incident_type=incident_type, action=action):
                outcome = self.run_script(ACTION, self.incident(incident_type), {'action': action},
                                          answers_for(incident_type))
                self.assertNoTraceback(outcome)
                self.assertEqual(outcome['executed_commands'],
                                 [expected_run(incident_type, action, self.VALUES[incident_type])])
                self.assertNotIn(ERROR, entry_types(outcome))
                self.assertEqual(len(outcome['results']), 1, outcome['results'])

    def test_the_commands_own_entry_is_shown_and_the_fetching_instance_acts(self):
        for incident_type, action in self.each_action():
            with self.subTest(incident_type=incident_type, action=action):
                incident = self.incident(incident_type, sourceInstance='Entra prod')
                outcome = self.run_script(ACTION, incident, {'action': action}, answers_for(incident_type))
                self.assertNoTraceback(outcome)
                expected = expected_run(incident_type, action, self.VALUES[incident_type])
                expected['args']['using'] = 'Entra prod'
                self.assertEqual(outcome['executed_commands'], [expected])
                shown = outcome['results'][0]
                shown = shown[0] if isinstance(shown, list) else shown
                self.assertEqual((shown['Type'], shown['HumanReadable']), (NOTE, 'done'), outcome['results'])

    def test_an_action_not_on_the_incidents_kind_is_one_error_and_runs_nothing(self):
        for incident_type, actions in ACTIONS.items():
            for action in sorted(ALL_ACTIONS - set(actions)):
                with self.subTest(incident_type=incident_type, action=action):
                    outcome = self.run_script(ACTION, self.incident(incident_type), {'action': action},
                                              answers_for(incident_type))
                    self.assertOneError(outcome, '"{}"'.format(action))
                    self.assertEqual(outcome['executed_commands'], [])

    def test_confirm_safe_is_no_action_on_a_service_principal(self):
        outcome = self.run_script(ACTION, self.incident(PRINCIPAL), {'action': 'confirm-safe'},
                                  answers_for(PRINCIPAL))
        self.assertOneError(outcome, 'confirm-safe', 'service principal')
        self.assertEqual(outcome['executed_commands'], [])

    def test_the_sign_in_actions_are_no_actions_on_a_risky_user(self):
        for action in ('sign-in', 'sign-ins-around', 'block-ip'):
            with self.subTest(action=action):
                outcome = self.run_script(ACTION, self.incident(RISKY_USER), {'action': action},
                                          answers_for(DETECTION))
                self.assertOneError(outcome, action, 'risky user')
                self.assertEqual(outcome['executed_commands'], [])

    def test_an_action_whose_field_is_empty_is_one_error_naming_the_field_and_runs_nothing(self):
        for incident_type, action in self.each_action():
            _, from_fields, _ = ACTIONS[incident_type][action]
            for field in set(from_fields.values()) - {USER_ID, PRINCIPAL_ID}:
                for empty in ('', None, 'absent'):
                    values = {**self.VALUES[incident_type], field: empty}
                    if empty == 'absent':
                        del values[field]
                    with self.subTest(incident_type=incident_type, action=action, field=field, value=empty):
                        outcome = self.run_script(ACTION, self.incident(incident_type, values), {'action': action},
                                                  answers_for(incident_type))
                        self.assertOneError(outcome, field)
                        self.assertEqual(outcome['executed_commands'], [])

    def test_an_unknown_or_missing_action_runs_nothing(self):
        for args in ({'action': 'delete'}, {'action': ''}, {}):
            for incident_type in ACTIONS:
                with self.subTest(args=args, incident_type=incident_type):
                    outcome = self.run_script(ACTION, self.incident(incident_type), args, answers_for(incident_type))
                    self.assertOneError(outcome)
                    self.assertEqual(outcome['executed_commands'], [])

    def test_an_incident_with_neither_id_is_one_error_and_runs_nothing(self):
        for fields in ({}, None, {self.user_field: '', self.principal_field: ''},
                       {self.cli_names[DETECTION_ID]: 'd-1', self.cli_names[SOURCE_IP]: '203.0.113.45'}):
            for incident_type, action in self.each_action():
                with self.subTest(fields=fields, incident_type=incident_type, action=action):
                    incident = {'id': '13', 'type': incident_type, 'CustomFields': fields}
                    outcome = self.run_script(ACTION, incident, {'action': action}, answers_for(incident_type))
                    self.assertOneError(outcome, 'neither')
                    self.assertEqual(outcome['executed_commands'], [])

    def test_the_commands_error_entry_is_surfaced_as_an_error(self):
        cases = ((DETECTION, 'dismiss', 'Graph answered 403 Forbidden: IdentityRiskyUser.ReadWrite.All is missing'),
                 (DETECTION, 'block-ip', 'Graph answered 403 Forbidden: Policy.ReadWrite.ConditionalAccess is missing'),
                 (DETECTION, 'sign-in', 'Graph answered 403 Forbidden: a Microsoft Entra ID P1 licence is needed'),
                 (RISKY_USER, 'revoke-sessions', 'Graph answered 404 Not Found: the user does not exist'))
        for incident_type, action, graph_error in cases:
            with self.subTest(incident_type=incident_type, action=action):
                command = ACTIONS[incident_type][action][0]
                outcome = self.run_script(ACTION, self.incident(incident_type), {'action': action},
                                          {command: error_entry(graph_error)})
                self.assertOneError(outcome, graph_error)
                self.assertEqual(len(outcome['executed_commands']), 1)

    def test_the_commands_are_the_integrations_with_their_arguments(self):
        definition = load_yaml(os.path.join(REPO, 'integration.yml'))
        declared = {c['name']: {a['name'] for a in c.get('arguments', [])} for c in definition['script']['commands']}
        for incident_type, action in self.each_action():
            command, from_fields, fixed = ACTIONS[incident_type][action]
            with self.subTest(incident_type=incident_type, action=action):
                self.assertIn(command, declared)
                self.assertLessEqual(set(from_fields) | set(fixed), declared[command])


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
        self.assertEqual(len(arguments['action']['predefined']), len(set(arguments['action']['predefined'])))
        self.assertEqual(set(arguments['action']['predefined']), ALL_ACTIONS)


class Layouts(PackCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        types = load_json_folder(os.path.join(cls.pack, 'IncidentTypes'))
        layouts = {layout['id']: layout for layout in load_json_folder(os.path.join(cls.pack, 'Layouts'))}
        cls.layout_of = {t['id']: layouts[t['layout']] for t in types}
        cls.scripts = {name: load_yaml(cls.script_file(name, '.yml')) for name in (ACTION, MAP, RAW)}
        classifiers = load_json_folder(os.path.join(cls.pack, 'Classifiers'))
        cls.mapping = next(c for c in classifiers if c['type'] == 'mapping-incoming')['mapping']

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

    def values_of_type(self, incident_type):
        """A value, by field name, in each of the scripts' fields the type has: the pack fields
        associated to it, the CommonTypes fields its incoming mapper fills."""
        values = {USER_ID: 'u-1', PRINCIPAL_ID: 'sp-1', DETECTION_ID: 'd-1', SOURCE_IP: '203.0.113.45',
                  PREFIX + 'Latitude': 38.7223, PREFIX + 'Longitude': -9.1393}
        mapped = self.mapping[incident_type]['internalMapping']
        return {name: value for name, value in values.items()
                if incident_type in self.fields.get(name, {}).get('associatedTypes', []) or
                name in COMMON_FIELDS and name in mapped}

    def incident_of_type(self, incident_type):
        """An incident with a value in each of the scripts' fields the type has."""
        cli_names = {**COMMON_FIELDS, **{name: f['cliName'] for name, f in self.fields.items()}}
        fields = {cli_names[name]: value for name, value in self.values_of_type(incident_type).items()}
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
            actions = []
            for button in self.buttons(layout):
                args = {name: value['simple'] for name, value in button['args'].items()}
                actions.append(args['action'])
                with self.subTest(incident_type=incident_type, button=button['name']):
                    outcome = self.run_script(ACTION, self.incident_of_type(incident_type), args,
                                              answers_for(incident_type))
                    self.assertNoTraceback(outcome)
                    self.assertNotIn(ERROR, entry_types(outcome), outcome['results'])
                    self.assertEqual(outcome['executed_commands'],
                                     [expected_run(incident_type, args['action'], self.values_of_type(incident_type))])
            with self.subTest(incident_type=incident_type):
                self.assertEqual(sorted(actions), sorted(ACTIONS[incident_type]), 'one button per action on this kind')

    def test_the_investigate_and_respond_buttons_are_those_issue_17_asks_for(self):
        for incident_type, layout in self.layout_of.items():
            with self.subTest(incident_type=incident_type):
                sections = [s for s in self.sections(layout) if s.get('name') == RESPOND_SECTION]
                if incident_type not in RESPOND_BUTTONS:
                    self.assertEqual(sections, [])
                    continue
                self.assertEqual(len(sections), 1)
                buttons = {item['name']: item['args']['action']['simple'] for item in sections[0]['items']
                           if item.get('sectionItemType') == 'button'}
                self.assertEqual(buttons, RESPOND_BUTTONS[incident_type])
                self.assertEqual(len(sections[0]['items']), len(buttons))

    def test_item_ids_are_unique_in_a_layout(self):
        for incident_type, layout in self.layout_of.items():
            with self.subTest(incident_type=incident_type):
                ids = [item['id'] for section in self.sections(layout) for item in section.get('items', [])]
                self.assertEqual(len(ids), len(set(ids)))
                sections = [section['i'] for section in self.sections(layout)]
                self.assertEqual(len(sections), len(set(sections)))

    def test_the_sections_of_each_tab_fill_the_grid_without_gaps_or_overlaps(self):
        for incident_type, layout in self.layout_of.items():
            for tab in layout['detailsV2']['tabs']:
                if 'sections' not in tab:
                    continue
                with self.subTest(incident_type=incident_type, tab=tab['id']):
                    cells = []
                    for section in tab['sections']:
                        x, y, w, h = (section[key] for key in ('x', 'y', 'w', 'h'))
                        self.assertTrue(x >= 0 and y >= 0 and w >= 1 and h >= 1 and x + w <= 3, section['name'])
                        cells += [(column, row) for column in range(x, x + w) for row in range(y, y + h)]
                    self.assertEqual(len(cells), len(set(cells)), 'sections overlap')
                    bottom = max(row for _, row in cells) + 1
                    self.assertEqual(set(cells), {(c, r) for c in range(3) for r in range(bottom)}, 'a hole')

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
        cli_names = {**COMMON_FIELDS, **{name: f['cliName'] for name, f in self.fields.items()}}
        fields = {cli_names[name]: value for name, value in mapped.items() if name in cli_names}
        return raw, {'id': '51', 'type': incident_type, 'rawJSON': fetched['rawJSON'], 'CustomFields': fields}

    @staticmethod
    def subject_values(incident_type, raw):
        """The Graph object's values the actions act on, by the field name that holds them."""
        if incident_type == RISKY_USER:
            return {USER_ID: raw['id']}
        subject = {PRINCIPAL_ID: raw['servicePrincipalId']} if incident_type == PRINCIPAL else {USER_ID: raw['userId']}
        return {**subject, DETECTION_ID: raw['id'], SOURCE_IP: raw['ipAddress']}

    def test_buttons_act_on_the_fetched_subject(self):
        kinds = set()
        for fetched in self.fetched:
            raw, incident = self.as_xsoar_incident(fetched)
            kinds.add(incident['type'])
            values = self.subject_values(incident['type'], raw)
            for section in (s for tab in self.layout_of[incident['type']]['detailsV2']['tabs']
                            for s in tab.get('sections', [])):
                for button in (i for i in section.get('items', []) if i.get('sectionItemType') == 'button'):
                    action = button['args']['action']['simple']
                    with self.subTest(incident_type=incident['type'], action=action):
                        outcome = self.run_script(ACTION, dict(incident, sourceInstance='Entra prod'),
                                                  {'action': action}, answers_for(incident['type']))
                        self.assertNoTraceback(outcome)
                        self.assertNotIn(ERROR, entry_types(outcome), outcome['results'])
                        expected = expected_run(incident['type'], action, values)
                        expected['args']['using'] = 'Entra prod'
                        self.assertEqual(outcome['executed_commands'], [expected])
        self.assertEqual(kinds, set(ACTIONS), 'the fixture has an incident of each kind')

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

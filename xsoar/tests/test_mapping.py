"""The pack's classifier and incoming mapper, applied to fetched incidents as XSOAR applies them.

The pack is built fresh (xsoar/build_pack.py into a scratch folder) and its classifier and
incoming mapper JSON are read from there. XSOAR's steps, redone here:
1. classification: the classifier's `transformer` (`simple` dotted path, or `complex` root /
   accessor / filters / transformers) evaluated on the incident's rawJSON; the result looked up
   in `keyTypeMap`; `defaultIncidentType` when it is not there;
2. mapping: the incident type's `internalMapping` and the all-types block
   (`dbot_classification_incident_type_all`), each value evaluated on the rawJSON the same way;
   an empty result sets nothing.
The expected values come from this file's own table (`EXPECTED`: field -> rawJSON path, per
kind, written from Microsoft Graph's resource members), never from the mapper.

Incidents: the hand-written fixture (fixtures/incidents.json, one of each kind), and a real
`fetch-incidents` run of the binary against the emulator with risky users and service-principal
detections turned on.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PACK = 'AzureADIdentityProtection'
PREFIX = 'Azure AD Identity Protection '

DETECTION = PREFIX + 'Risk Detection'
RISKY_USER = PREFIX + 'Risky User'
PRINCIPAL = PREFIX + 'Service Principal Risk Detection'
TYPE_BY_KIND = {'riskDetection': DETECTION, 'riskyUser': RISKY_USER,
                'servicePrincipalRiskDetection': PRINCIPAL}

# CommonTypes fields the mapper may name (demisto/content Packs/CommonTypes/IncidentFields,
# all `associatedToAll: true`): name -> cliName.
COMMON_FIELDS = {'Source IP': 'sourceip', 'Source Username': 'sourceusername', 'Event ID': 'eventid',
                 'Alert Source': 'alertsource'}
SYSTEM_FIELDS = {'severity', 'dbotMirrorId', 'dbotMirrorDirection', 'dbotMirrorInstance'}

_DETECTED = {
    'Source IP': 'ipAddress',
    'Event ID': 'id',
    'Alert Source': 'source',
    PREFIX + 'Country': 'location.countryOrRegion',
    PREFIX + 'Risk Event Type': 'riskEventType',
    PREFIX + 'Risk Level': 'riskLevel',
    PREFIX + 'Risk State': 'riskState',
    PREFIX + 'Risk Detail': 'riskDetail',
    PREFIX + 'Detection Timing Type': 'detectionTimingType',
    PREFIX + 'Activity': 'activity',
    PREFIX + 'Token Issuer Type': 'tokenIssuerType',
    PREFIX + 'Additional Info': 'additionalInfo',
    PREFIX + 'Request ID': 'requestId',
    PREFIX + 'Correlation ID': 'correlationId',
    PREFIX + 'City': 'location.city',
    PREFIX + 'State': 'location.state',
    PREFIX + 'Latitude': 'location.geoCoordinates.latitude',
    PREFIX + 'Longitude': 'location.geoCoordinates.longitude',
    PREFIX + 'Activity Time': 'activityDateTime',
    PREFIX + 'Detected Time': 'detectedDateTime',
    PREFIX + 'Last Updated Time': 'lastUpdatedDateTime',
}
# Per incident type: field -> rawJSON path, from Graph's riskDetection, riskyUser and
# servicePrincipalRiskDetection members (and the contract's user_risk / mirror members).
EXPECTED = {
    DETECTION: dict(_DETECTED, **{
        'Source Username': 'userPrincipalName',
        PREFIX + 'User Display Name': 'userDisplayName',
        PREFIX + 'User ID': 'userId',
        PREFIX + 'User Risk Level': 'user_risk.riskLevel',
        PREFIX + 'User Risk State': 'user_risk.riskState',
    }),
    RISKY_USER: {
        'Source Username': 'userPrincipalName',
        PREFIX + 'User Display Name': 'userDisplayName',
        PREFIX + 'User ID': 'id',
        PREFIX + 'User Risk Level': 'riskLevel',
        PREFIX + 'User Risk State': 'riskState',
        PREFIX + 'Risk Detail': 'riskDetail',
        PREFIX + 'Last Updated Time': 'riskLastUpdatedDateTime',
    },
    PRINCIPAL: dict(_DETECTED, **{
        PREFIX + 'Service Principal ID': 'servicePrincipalId',
        PREFIX + 'Service Principal Display Name': 'servicePrincipalDisplayName',
        PREFIX + 'App ID': 'appId',
    }),
}
EXPECTED_ALL_TYPES = {'dbotMirrorId': 'id', 'dbotMirrorDirection': 'mirror_direction',
                      'dbotMirrorInstance': 'mirror_instance'}
# Graph's riskLevel -> XSOAR severity, as the binary sets it at fetch; anything else 0.
SEVERITY = {'low': 1, 'medium': 2, 'high': 3}


# --- XSOAR's evaluation of a classifier / mapper value -------------------------------------

def get_path(value, path):
    """A dotted path on a JSON value, as XSOAR's DT paths read it (a list maps the rest of the
    path over its items)."""
    if not path:
        return value
    for part in path.split('.'):
        if isinstance(value, list):
            value = [item.get(part) for item in value if isinstance(item, dict)]
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def map_values_transformer(value, input_values, mapped_values):
    """CommonScripts' MapValuesTransformer: comma-separated lists, compared as strings; a value
    not listed comes back unchanged (as a string)."""
    inputs = [str(x) for x in input_values.split(',')]
    outputs = [str(x) for x in mapped_values.split(',')]
    if len(inputs) != len(outputs):
        raise AssertionError('MapValuesTransformer: input_values and mapped_values differ in length')
    mapper = dict(zip(inputs, outputs))
    if isinstance(value, (dict, list)):
        raise AssertionError('MapValuesTransformer on a dict or list is not used by this pack')
    value = str(value)
    return mapper.get(value, value)


TRANSFORMERS = {'MapValuesTransformer': map_values_transformer}


def argument(arg, raw):
    if arg.get('isContext'):
        return get_path(raw, arg['value']['simple'])
    return arg['value']['simple']


def evaluate(spec, raw):
    """A classifier `transformer` or mapper value on a rawJSON object."""
    complex_ = spec.get('complex')
    if complex_:
        value = get_path(raw, complex_['root'])
        if complex_.get('accessor'):
            value = get_path(value, complex_['accessor'])
        if complex_.get('filters'):
            raise AssertionError('filters are not used by this pack: teach the test their semantics first')
        for transformer in complex_.get('transformers') or []:
            if is_empty(value):
                break
            operator = TRANSFORMERS.get(transformer['operator'])
            if operator is None:
                raise AssertionError('transformer {} has no stand-in here'.format(transformer['operator']))
            args = {name: argument(arg, raw) for name, arg in transformer.get('args', {}).items()}
            value = operator(value, **args)
        return value
    return get_path(raw, spec.get('simple') or '')


def is_empty(value):
    return value is None or value == '' or value == [] or value == {}


def classify(classifier, raw):
    key = evaluate(classifier['transformer'], raw)
    return classifier['keyTypeMap'].get('' if key is None else str(key), classifier['defaultIncidentType'])


def map_incident(mapper, incident_type, raw):
    """The fields the mapper sets: the type's block and the all-types block."""
    blocks = mapper['mapping']
    own = blocks.get(incident_type, {}).get('internalMapping', {})
    common = blocks.get('dbot_classification_incident_type_all', {}).get('internalMapping', {})
    overlap = set(own) & set(common)
    if overlap:
        raise AssertionError('mapped in both blocks (XSOAR\'s precedence unverified): {}'.format(sorted(overlap)))
    fields = {}
    for name, spec in list(common.items()) + list(own.items()):
        value = evaluate(spec, raw)
        if not is_empty(value):
            fields[name] = value
    return fields


# --- the built pack ----------------------------------------------------------------------------

def build_pack(out):
    subprocess.run([sys.executable, os.path.join(REPO, 'xsoar', 'build_pack.py'), out], check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(out, 'Packs', PACK)


def load_json_folder(folder):
    items = []
    for name in sorted(os.listdir(folder)):
        if name.endswith('.json'):
            with open(os.path.join(folder, name)) as f:
                items.append(json.load(f))
    return items


class MappingCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.scratch = tempfile.TemporaryDirectory(prefix='mapping-test-')
        pack = build_pack(cls.scratch.name)
        classifiers = load_json_folder(os.path.join(pack, 'Classifiers'))
        cls.classifier = next(c for c in classifiers if c['type'] == 'classification')
        cls.mapper = next(c for c in classifiers if c['type'] == 'mapping-incoming')
        cls.fields = {f['name']: f for f in load_json_folder(os.path.join(pack, 'IncidentFields'))}

    @classmethod
    def tearDownClass(cls):
        cls.scratch.cleanup()

    def assertMapped(self, incident):
        """Classifies and maps one incident; every field its object has a value for is filled
        with that value."""
        raw = json.loads(incident['rawJSON'])
        kind = raw.get('entra_object_type')
        self.assertIn(kind, TYPE_BY_KIND, 'rawJSON has no known entra_object_type: {}'.format(incident['name']))
        incident_type = classify(self.classifier, raw)
        self.assertEqual(incident_type, TYPE_BY_KIND[kind])
        fields = map_incident(self.mapper, incident_type, raw)
        expected = dict(EXPECTED[incident_type], **EXPECTED_ALL_TYPES)
        for name, path in expected.items():
            value = get_path(raw, path)
            with self.subTest(kind=kind, field=name):
                if is_empty(value):
                    self.assertNotIn(name, fields)
                else:
                    self.assertEqual(fields.get(name), value)
        level = raw.get('riskLevel')
        if level is not None:
            self.assertEqual(int(fields['severity']), SEVERITY.get(level, 0), kind)
            self.assertEqual(int(fields['severity']), incident['severity'], 'the mapper agrees with fetch')
        self.assertEqual(set(fields) - set(expected) - {'severity'}, set(), 'fields the test does not know')
        return incident_type

    def assertFieldsExist(self):
        """Every field the mapper names is a pack field associated with the type, a CommonTypes
        field associated to all types, or an incident's system key."""
        for incident_type, block in self.mapper['mapping'].items():
            for name in block['internalMapping']:
                with self.subTest(incident_type=incident_type, field=name):
                    if name in self.fields:
                        self.assertIn(incident_type, self.fields[name]['associatedTypes'])
                    else:
                        self.assertIn(name, set(COMMON_FIELDS) | SYSTEM_FIELDS)


class Fixture(MappingCase):
    def test_each_kind_is_classified_and_every_member_mapped(self):
        with open(os.path.join(HERE, 'fixtures', 'incidents.json')) as f:
            incidents = json.load(f)
        types = [self.assertMapped(incident) for incident in incidents]
        self.assertEqual(sorted(types), sorted(TYPE_BY_KIND.values()))

    def test_the_mapper_names_only_fields_that_exist_for_the_type(self):
        self.assertFieldsExist()

    def test_every_expected_field_is_mapped_for_its_type(self):
        for incident_type, table in EXPECTED.items():
            self.assertEqual(set(self.mapper['mapping'][incident_type]['internalMapping']), set(table), incident_type)

    def test_an_unknown_object_type_falls_back_to_risk_detection(self):
        self.assertEqual(classify(self.classifier, {'id': 'x'}), DETECTION)
        self.assertEqual(classify(self.classifier, {'entra_object_type': 'somethingNew'}), DETECTION)

    def test_severity_of_every_graph_risk_level(self):
        for level in ('low', 'medium', 'high', 'hidden', 'none', 'unknownFutureValue'):
            fields = map_incident(self.mapper, DETECTION, {'riskLevel': level, 'entra_object_type': 'riskDetection'})
            self.assertEqual(int(fields['severity']), SEVERITY.get(level, 0), level)

    def test_a_detection_without_user_risk_leaves_the_user_risk_fields_empty(self):
        raw = {'entra_object_type': 'riskDetection', 'id': 'd1', 'riskLevel': 'low', 'location': {}}
        fields = map_incident(self.mapper, classify(self.classifier, raw), raw)
        self.assertNotIn(PREFIX + 'User Risk Level', fields)
        self.assertNotIn(PREFIX + 'City', fields)
        self.assertEqual(fields['dbotMirrorId'], 'd1')


class FetchedByTheBinary(MappingCase):
    """Real incidents: `fetch-incidents` of the binary against the emulator, every kind on."""

    def test_fetched_incidents_of_all_three_kinds_are_mapped(self):
        from test_bridge import BINARY, IN_CI, Emulator
        if not os.access(BINARY, os.X_OK):
            if IN_CI:
                raise RuntimeError('CI=true: build the binary first: {} is missing'.format(BINARY))
            self.skipTest('build the binary first (cargo build): {} is missing'.format(BINARY))
        emulator = Emulator()
        incidents = []
        try:
            params = dict(emulator.info['params'], first_fetch='2000-01-01', max_fetch='1000',
                          fetch_risky_users='true', fetch_service_principal_detections='true')
            last_run = {}
            # max_fetch bounds all kinds together, earliest first, and the risky users' updates
            # come after most detections: fetch on, as XSOAR would, until a fetch is empty.
            for _ in range(10):
                envelope = {'command': 'fetch-incidents', 'args': {}, 'params': params, 'context': {},
                            'last_run': last_run}
                done = subprocess.run([BINARY], input=json.dumps(envelope), capture_output=True, text=True,
                                      timeout=120)
                self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
                result = json.loads(done.stdout)
                if not result['incidents']:
                    break
                incidents.extend(result['incidents'])
                last_run = result['last_run']
        finally:
            emulator.stop()
            emulator.process.stdout.close()
        kinds = {json.loads(i['rawJSON']).get('entra_object_type') for i in incidents}
        self.assertEqual(kinds, set(TYPE_BY_KIND), 'fetch returns all three kinds, each with entra_object_type')
        for incident in incidents:
            self.assertMapped(incident)


if __name__ == '__main__':
    unittest.main()

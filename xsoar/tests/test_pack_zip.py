"""The pack zip that build-pack.sh writes for Marketplace -> Upload pack
(OUT/AzureADIdentityProtection.zip), read back as the server reads it.

The layout is the one `demisto-sdk zip-packs` writes (xsoar/check-pack.sh compares the two file by
file): pack_metadata.json, metadata.json and README.md at the root, then one folder per content
type with the items flattened to one file each, named with the type's prefix; the integration and
the scripts unified (their code embedded in the yml). The expected names and keys are written here
as literals, not read from build_pack.py.

The pack is built fresh into a scratch folder with xsoar/build_pack.py, as test_mapping does.
"""

import io
import json
import os
import tempfile
import unittest
import zipfile

import yaml

from test_mapping import PACK, REPO, build_pack

ZIP = 'AzureADIdentityProtection.zip'
INTEGRATION = 'Integrations/integration-AzureADIdentityProtection.yml'
SCRIPTS = ('AzureADIdentityProtectionRawObject', 'AzureADIdentityProtectionRiskAction',
           'AzureADIdentityProtectionSignInMap')
# Each content folder of the zip and the prefix of its file names.
PREFIXES = {
    'Classifiers': 'classifier-',
    'IncidentFields': 'incidentfield-',
    'IncidentTypes': 'incidenttype-',
    'Integrations': 'integration-',
    'Layouts': 'layoutscontainer-',
    'Scripts': 'script-',
}


class PackZip(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.scratch = tempfile.TemporaryDirectory(prefix='pack-zip-test-')
        cls.pack = build_pack(cls.scratch.name)
        with open(os.path.join(cls.scratch.name, ZIP), 'rb') as f:
            cls.data = f.read()
        cls.zip = zipfile.ZipFile(io.BytesIO(cls.data))
        cls.names = cls.zip.namelist()

    @classmethod
    def tearDownClass(cls):
        cls.scratch.cleanup()

    def read_json(self, name):
        return json.loads(self.zip.read(name))

    def read_yaml(self, name):
        return yaml.safe_load(self.zip.read(name))

    def source_items(self, folder):
        path = os.path.join(self.pack, folder)
        items = {}
        for name in sorted(os.listdir(path)):
            with open(os.path.join(path, name), encoding='utf-8') as f:
                items[name] = json.load(f)
        return items

    def test_is_a_valid_zip_of_relative_paths_only(self):
        self.assertIsNone(self.zip.testzip())
        for name in self.names:
            self.assertFalse(name.startswith('/') or '..' in name.split('/') or '\\' in name, name)

    def test_root_holds_the_metadata_and_readme_and_folders_hold_prefixed_items(self):
        root = sorted(n for n in self.names if '/' not in n)
        self.assertEqual(root, ['README.md', 'metadata.json', 'pack_metadata.json'])
        for name in self.names:
            if '/' in name:
                folder, file_name = name.split('/')
                self.assertIn(folder, PREFIXES, name)
                self.assertTrue(file_name.startswith(PREFIXES[folder]), name)
                self.assertTrue(file_name.endswith('.yml' if folder in ('Integrations', 'Scripts') else '.json'), name)

    def test_pack_metadata_and_readme_are_the_packs(self):
        with open(os.path.join(REPO, 'xsoar', 'pack', 'pack_metadata.json'), encoding='utf-8') as f:
            self.assertEqual(self.read_json('pack_metadata.json'), json.load(f))
        with open(os.path.join(REPO, 'xsoar', 'pack', 'README.md'), encoding='utf-8') as f:
            self.assertEqual(self.zip.read('README.md').decode('utf-8'), f.read())
        self.assertEqual(self.read_json('pack_metadata.json')['marketplaces'], ['xsoar'])

    def test_the_integration_is_the_unified_yml(self):
        with open(os.path.join(self.scratch.name, 'integration-AzureADIdentityProtection.yml'), 'rb') as f:
            self.assertEqual(self.zip.read(INTEGRATION), f.read())
        integration = self.read_yaml(INTEGRATION)
        self.assertEqual(integration['commonfields']['id'], 'Azure Active Directory Identity Protection')
        script = integration['script']
        self.assertEqual((script['type'], script['subtype']), ('python', 'python3'))
        self.assertRegex(script['dockerimage'], r'^azure-ad-identity-protection:\d+\.\d+\.\d+')
        # unified: the code embedded, not the split form's '-' placeholder
        self.assertTrue(script['script'].startswith(
            "register_module_line('Azure Active Directory Identity Protection', 'start', __line__())\n"))
        self.assertIn('def main(', script['script'])
        self.assertNotIn('import demistomock', script['script'])
        self.assertTrue(integration['image'].startswith('data:image/png;base64,'))
        self.assertIn('Sign-in modes', integration['detaileddescription'])

    def test_each_script_is_unified_with_its_code(self):
        for name in SCRIPTS:
            script = self.read_yaml(f'Scripts/script-{name}.yml')
            self.assertEqual(script['commonfields']['id'], name)
            self.assertTrue(script['script'].startswith(f"register_module_line('{name}', 'start', __line__())"))
            self.assertTrue(script['script'].endswith(f"register_module_line('{name}', 'end', __line__())\n"))
            self.assertIn('def main(', script['script'])
            self.assertNotIn('from CommonServerPython import', script['script'])

    def test_content_items_are_the_packs_one_file_each(self):
        folders = {'IncidentFields': 'incidentfield-', 'IncidentTypes': 'incidenttype-', 'Layouts': 'layoutscontainer-'}
        for folder, prefix in folders.items():
            source = self.source_items(folder)
            zipped = {n.split('/')[1]: self.read_json(n) for n in self.names if n.startswith(folder + '/')}
            self.assertEqual(sorted(zipped), sorted(n if n.startswith(prefix) else prefix + n for n in source))
            for name, item in source.items():
                if folder == 'Layouts':  # the server reads a layout's versions under these keys too
                    item = dict(item, fromServerVersion=item['fromVersion'], toServerVersion='99.99.99')
                self.assertEqual(zipped[name if name.startswith(prefix) else prefix + name], item, name)

    def test_classifier_and_mappers_are_named_by_kind(self):
        zipped = {n.split('/')[1]: self.read_json(n) for n in self.names if n.startswith('Classifiers/')}
        self.assertEqual(len(zipped), len(self.source_items('Classifiers')))
        for name, item in zipped.items():
            expected = 'classifier-mapper-' if item['type'].startswith('mapping') else 'classifier-'
            self.assertTrue(name.startswith(expected), name)
        kinds = sorted(item['type'] for item in zipped.values())
        self.assertEqual(kinds, ['classification', 'mapping-incoming', 'mapping-outgoing'])

    def test_marketplace_metadata_lists_every_item(self):
        metadata = self.read_json('metadata.json')
        self.assertEqual(metadata['id'], PACK)
        self.assertEqual(metadata['currentVersion'], self.read_json('pack_metadata.json')['currentVersion'])
        items = metadata['contentItems']
        self.assertEqual(sorted(s['name'] for s in items['automation']), sorted(SCRIPTS))
        [integration] = items['integration']
        commands = [c['name'] for c in self.read_yaml(INTEGRATION)['script']['commands']]
        self.assertEqual([c['name'] for c in integration['commands']], commands)
        counts = {'incidentfield': 'IncidentFields/', 'incidenttype': 'IncidentTypes/',
                  'layoutscontainer': 'Layouts/', 'classifier': 'Classifiers/'}
        for kind, folder in counts.items():
            self.assertEqual(len(items[kind]), sum(n.startswith(folder) for n in self.names), kind)

    def test_the_same_inputs_give_the_same_zip_but_for_the_build_time(self):
        with tempfile.TemporaryDirectory(prefix='pack-zip-again-') as again:
            build_pack(again)
            with open(os.path.join(again, ZIP), 'rb') as f:
                other = zipfile.ZipFile(io.BytesIO(f.read()))
        self.assertEqual(other.namelist(), self.names)
        for name in self.names:
            if name != 'metadata.json':
                self.assertEqual(other.read(name), self.zip.read(name), name)


if __name__ == '__main__':
    unittest.main()

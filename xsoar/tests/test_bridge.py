"""The XSOAR bridge, run as XSOAR runs it, against the real binary and the emulator.

The script under test is the one embedded in the unified yml that `xsoar/build-pack.sh` writes
(what a SOAR engineer uploads), not only `xsoar/AzureADIdentityProtection.py`. Each command runs
in a fresh Python process, as in XSOAR, behind the stand-in `CommonServerPython` and with the
stand-in `demistomock` of `xsoar_runtime/` (state in and outcome out through a JSON file; see
demistomock's docstring; `run_integration.py` says how the server runs a unified script).
The binary talks to `azure-ad-identity-protection emulator` on loopback, a real HTTP server.

Where a bridge result is compared with "the binary alone", the expected value is the binary's
own result for the same envelope: the bridge must add nothing and lose nothing.

Environment (set by .ci/run; defaults for a developer's checkout):
  AZURE_AD_IDENTITY_PROTECTION_TEST_BIN  the binary (default target/debug/azure-ad-identity-protection)
  XSOAR_UNIFIED_YML                      the unified yml (default: build it with build-pack.sh)
  CI                                     `true`: a missing binary fails every test instead of
                                         skipping them
"""

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RUNTIME = os.path.join(HERE, 'xsoar_runtime')
RUNNER = os.path.join(RUNTIME, 'run_integration.py')
BINARY = os.path.abspath(os.environ.get('AZURE_AD_IDENTITY_PROTECTION_TEST_BIN')
                         or os.path.join(REPO, 'target', 'debug', 'azure-ad-identity-protection'))
XSOAR_VERSION = '6.10.0'
# What the stand-in demistomock's integrationInstance() answers when a test names no instance.
DEFAULT_INSTANCE = 'test-instance'
IN_CI = os.environ.get('CI') == 'true'


def unified_yml(scratch):
    """The unified yml: the one given, or a fresh build of the pack."""
    given = os.environ.get('XSOAR_UNIFIED_YML')
    if given:
        return given
    out = os.path.join(scratch, 'pack')
    subprocess.run(['bash', os.path.join(REPO, 'xsoar', 'build-pack.sh'), out], check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(out, 'integration-AzureADIdentityProtection.yml')


def http_json(method, url, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


class Emulator:
    """`azure-ad-identity-protection emulator --port 0`: its first stdout line says where it is."""

    def __init__(self):
        args = [BINARY, 'emulator', '--port', '0', '--device-code-interval', '1']
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.info = json.loads(self.process.stdout.readline())
        self.admin = self.info['admin']

    def stop(self):
        self.process.kill()
        self.process.wait()


class BridgeCase(unittest.TestCase):
    """Runs the embedded script once per command, carrying XSOAR's state between commands."""

    @classmethod
    def setUpClass(cls):
        if not os.access(BINARY, os.X_OK):
            missing = 'build the binary first (cargo build): {} is missing'.format(BINARY)
            if IN_CI:
                raise RuntimeError('CI=true: ' + missing)
            raise unittest.SkipTest(missing)
        cls.scratch = tempfile.mkdtemp(prefix='bridge-test-')
        with open(unified_yml(cls.scratch)) as f:
            cls.definition = yaml.safe_load(f)
        cls.script = os.path.join(cls.scratch, 'integration_script.py')
        with open(cls.script, 'w') as f:
            f.write(cls.definition['script']['script'])
        cls.emulator = Emulator()

    @classmethod
    def tearDownClass(cls):
        cls.emulator.stop()
        shutil.rmtree(cls.scratch, ignore_errors=True)

    def setUp(self):
        self.context = {'context': {}, 'version': 1}
        self.last_run = {}

    # --- running the bridge -----------------------------------------------------------------

    def device_params(self, **extra):
        params = dict(self.emulator.info['device_code_params'])
        params.update(extra)
        return params

    def secret_params(self, **extra):
        params = dict(self.emulator.info['params'])
        params.update(extra)
        return params

    def bridge(self, command, args=None, params=None, concurrent_writes=None, env=None, keep_state=True,
               server_version=XSOAR_VERSION, script=None, instance=None):
        """Runs the embedded script (or `script`, a variant of it) for one command; returns
        demistomock's outcome.

        The integration context and last run carry over to the next call, as XSOAR keeps them."""
        state = {
            'command': command,
            'args': args or {},
            'params': params if params is not None else self.device_params(),
            'integration_context': self.context,
            'last_run': self.last_run,
            'demisto_version': server_version,
            'concurrent_writes': concurrent_writes or [],
        }
        if instance is not None:
            state['instance'] = instance
        path = os.path.join(self.scratch, 'state.json')
        with open(path, 'w') as f:
            json.dump(state, f)
        environment = {
            'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
            'PYTHONPATH': RUNTIME,
            'DEMISTOMOCK_STATE': path,
            'AZURE_AD_IDENTITY_PROTECTION_BIN': BINARY,
        }
        environment.update(env or {})
        done = subprocess.run([sys.executable, RUNNER, script or self.script], env=environment, capture_output=True,
                              text=True, timeout=120)
        with open(path) as f:
            outcome = json.load(f)['outcome']
        outcome['returncode'] = done.returncode
        outcome['stderr'] = done.stderr
        if keep_state:
            self.context = outcome['integration_context']
            if outcome.get('last_run_set') is not None:
                self.last_run = outcome['last_run_set']
        return outcome

    def binary_alone(self, command, args, params, context, last_run=None):
        """The binary's own result for the envelope the bridge builds."""
        envelope = {'command': command, 'args': args, 'params': params, 'context': context,
                    'instance_name': DEFAULT_INSTANCE}
        if last_run is not None:
            envelope['last_run'] = last_run
        done = subprocess.run([BINARY], input=json.dumps(envelope), capture_output=True, text=True, timeout=120)
        return done.returncode, json.loads(done.stdout)

    def sign_in(self):
        """Device code, approved at once, redeemed without polling."""
        start = self.bridge('azure-ad-auth-start')
        user_code = self.context['context']['user_code']
        http_json('POST', self.emulator.admin + '/approve', {'user_code': user_code})
        time.sleep(1.1)  # the emulator's device-code interval
        done = self.bridge('azure-ad-auth-complete')
        self.assertEqual(entry_types(done), [1], done['results'])
        return start, done

    def script_with(self, name, replacements):
        """A copy of the embedded script with some of its constants set otherwise: the same code
        with other data. Each replaced line must be in the script exactly once."""
        with open(self.script) as f:
            text = f.read()
        for old, new in replacements.items():
            self.assertEqual(text.count(old), 1, old)
            text = text.replace(old, new)
        path = os.path.join(self.scratch, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def tenant(self):
        """The emulator's tenant as it is now (its admin endpoint): the independent record of
        what Graph serves."""
        with urllib.request.urlopen(self.emulator.admin + '/tenant', timeout=10) as response:
            return json.loads(response.read())

    def a_risky_user(self):
        listed = self.bridge('azure-ad-identity-protection-risky-user-list', {'limit': '1'})
        return listed['results'][0]['Contents']['value'][0]

    # --- assertions ---------------------------------------------------------------------------

    def assertNoTraceback(self, outcome):
        self.assertIsNone(outcome['exception'], outcome)
        self.assertEqual(outcome['returncode'], 0, outcome['stderr'])
        self.assertNotIn('Traceback', outcome['stderr'])

    def assertOneError(self, outcome, *phrases):
        self.assertNoTraceback(outcome)
        self.assertEqual(entry_types(outcome), [4], outcome['results'])
        message = outcome['results'][0]['Contents']
        for phrase in phrases:
            self.assertIn(phrase, message)
        return message


# Microsoft's per-request diagnostics: a fresh id (and date) in every answer, so two runs differ there.
PER_REQUEST = re.compile(r'((?:Trace ID|Correlation ID|Request ID): |"(?:trace_id|correlation_id|request_id|date)": ")'
                         r'[^"\\·\n]+')


def per_request_ids_blanked(value):
    """The value with Microsoft's per-request ids and dates blanked, for comparing two runs."""
    return json.loads(PER_REQUEST.sub(r'\1<per-request>', json.dumps(value, ensure_ascii=False)))


def instant(graph_time):
    """A Graph timestamp (0-7 fractional digits, Z) as an aware datetime, compared as an instant."""
    return datetime.datetime.fromisoformat(graph_time)


def entry_types(outcome):
    return [entry.get('Type') if isinstance(entry, dict) else entry for entry in outcome['results']]


class DeviceCodeChain(BridgeCase):
    """auth-start, auth-complete with XSOAR polling, then test-module and auth-test."""

    def test_sign_in_with_polling_until_approved(self):
        started = self.bridge('azure-ad-auth-start')
        self.assertNoTraceback(started)
        [entry] = started['results']
        user_code = entry['EntryContext']['AADIdentityProtection.Auth']['UserCode']
        self.assertIn(user_code, entry['HumanReadable'])
        self.assertEqual(self.context['context']['user_code'], user_code)
        self.assertIn('device_code', self.context['context'])

        pending = self.bridge('azure-ad-auth-complete', {'polling': 'true'})
        self.assertNoTraceback(pending)
        [entry] = pending['results']
        self.assertEqual(entry['Type'], 1)
        self.assertEqual(entry['PollingCommand'], 'azure-ad-auth-complete')
        self.assertEqual(entry['PollingArgs'], {'polling': 'true'})
        self.assertGreaterEqual(int(entry['NextRun']), 1)
        self.assertGreater(int(entry['Timeout']), 0)
        self.assertNotIn('access_token', self.context['context'])

        http_json('POST', self.emulator.admin + '/approve', {'user_code': user_code})
        # XSOAR waits NextRun (at least 10 s) before it runs PollingCommand with PollingArgs; the
        # test waits only the emulator's 1 s interval: the binary itself refuses to poll early.
        time.sleep(1.1)
        done = self.bridge(entry['PollingCommand'], entry['PollingArgs'])
        self.assertNoTraceback(done)
        [entry] = done['results']
        self.assertEqual(entry['Type'], 1)
        self.assertNotIn('PollingCommand', entry)
        self.assertIn('UserPrincipalName', entry['EntryContext']['AADIdentityProtection.Auth'])
        stored = self.context['context']
        self.assertTrue(stored.get('access_token') and stored.get('current_refresh_token'))
        self.assertNotIn('device_code', stored)

        self.assertEqual(self.bridge('test-module')['results'], ['ok'])
        tested = self.bridge('azure-ad-auth-test')
        self.assertEqual(entry_types(tested), [1])

    def test_a_server_without_polling_gets_the_note_and_no_schedule(self):
        self.bridge('azure-ad-auth-start')
        pending = self.bridge('azure-ad-auth-complete', {'polling': 'true'}, server_version='6.1.0')
        self.assertNoTraceback(pending)
        [entry] = pending['results']
        self.assertEqual(entry['Type'], 1)
        self.assertNotIn('PollingCommand', entry)
        self.assertIn('polling needs 6.2', entry['HumanReadable'])

    def test_pending_without_polling_is_an_error_that_keeps_the_code(self):
        self.bridge('azure-ad-auth-start')
        before = dict(self.context['context'])
        pending = self.bridge('azure-ad-auth-complete')
        self.assertNoTraceback(pending)
        self.assertEqual(entry_types(pending), [4])
        self.assertNotIn('PollingCommand', pending['results'][0])
        self.assertEqual(self.context['context']['device_code'], before['device_code'])

    def test_test_module_without_sign_in_says_what_to_run(self):
        outcome = self.bridge('test-module')
        self.assertOneError(outcome, '!azure-ad-auth-start')
        self.assertNotIn('ok', outcome['results'])

    def test_auth_reset_empties_the_context(self):
        self.sign_in()
        outcome = self.bridge('azure-ad-auth-reset')
        self.assertEqual(entry_types(outcome), [1])
        self.assertEqual(self.context['context'], {})


class ClientCredentials(BridgeCase):
    def test_test_module_answers_ok_and_stores_the_token(self):
        outcome = self.bridge('test-module', params=self.secret_params())
        self.assertNoTraceback(outcome)
        self.assertEqual(outcome['results'], ['ok'])
        self.assertEqual(outcome['set_context_calls'], 1)
        self.assertTrue(self.context['context'].get('access_token'))

    def test_a_wrong_secret_is_the_binarys_error_not_ok(self):
        params = self.secret_params(credentials={'identifier': '', 'password': 'not-the-secret'})
        outcome = self.bridge('test-module', params=params)
        message = self.assertOneError(outcome)
        self.assertNotIn('not-the-secret', message)
        _, alone = self.binary_alone('test-module', {}, params, {})
        self.assertIn('Trace ID: ', message)
        self.assertEqual(per_request_ids_blanked(message), per_request_ids_blanked(alone['entries'][0]['HumanReadable']))


class Lists(BridgeCase):
    def setUp(self):
        super().setUp()
        self.sign_in()

    def test_a_list_with_paging_is_the_binarys_result(self):
        args = {'limit': '3'}
        first = self.bridge('azure-ad-identity-protection-risky-user-list', args)
        self.assertNoTraceback(first)
        _, alone = self.binary_alone('azure-ad-identity-protection-risky-user-list', args, self.device_params(),
                                     self.context['context'])
        self.assertEqual(first['results'], alone['entries'])
        [entry] = first['results']
        self.assertEqual(len(entry['EntryContext']['AADIdentityProtection.RiskyUsers(val.id === obj.id)']), 3)
        link = entry['EntryContext']['AADIdentityProtection.NextLink(val.Description === "RiskyUsers")']['URL']
        self.assertTrue(link)

        second = self.bridge('azure-ad-identity-protection-risky-user-list', {'limit': '3', 'next_link': link})
        [entry2] = second['results']
        ids1 = [u['id'] for u in entry['Contents']['value']]
        ids2 = [u['id'] for u in entry2['Contents']['value']]
        self.assertEqual(len(ids2), 3)
        self.assertFalse(set(ids1) & set(ids2), 'the next page repeats users')
        both = self.bridge('azure-ad-identity-protection-risky-user-list', {'limit': '6'})
        self.assertEqual([u['id'] for u in both['results'][0]['Contents']['value']], ids1 + ids2)

    def test_a_cached_token_writes_no_context(self):
        outcome = self.bridge('azure-ad-identity-protection-risks-list', {'limit': '2'})
        self.assertEqual(entry_types(outcome), [1])
        self.assertEqual(outcome['set_context_calls'], 0)

    def test_confirm_compromised_updates_the_user(self):
        user = self.a_risky_user()
        args = {'user_ids': user['id']}
        outcome = self.bridge('azure-ad-identity-protection-risky-user-confirm-compromised', args)
        self.assertNoTraceback(outcome)
        self.assertEqual(entry_types(outcome), [1])
        self.assertEqual(outcome['results'][0]['Contents']['userIds'], [user['id']])
        # Confirming again changes nothing more, so the binary alone must say the same.
        _, alone = self.binary_alone('azure-ad-identity-protection-risky-user-confirm-compromised', args,
                                     self.device_params(), self.context['context'])
        self.assertEqual(outcome['results'], alone['entries'])
        history = self.bridge('azure-ad-identity-protection-risky-user-history-list', {'user_id': user['id']})
        states = [item.get('riskState') for item in history['results'][0]['Contents']['value']]
        self.assertIn('confirmedCompromised', states)

    def test_a_graph_failure_is_the_binarys_error_entry(self):
        args = {'user_id': 'no-such-user-0000'}
        outcome = self.bridge('azure-ad-identity-protection-risky-user-history-list', args)
        self.assertNoTraceback(outcome)
        status, alone = self.binary_alone('azure-ad-identity-protection-risky-user-history-list', args,
                                          self.device_params(), self.context['context'])
        self.assertEqual(status, 1)
        self.assertEqual(per_request_ids_blanked(outcome['results']), per_request_ids_blanked(alone['entries']))
        self.assertEqual(entry_types(outcome), [4])

    def test_a_bad_argument_is_return_error_with_the_binarys_message(self):
        args = {'limit': 'many'}
        outcome = self.bridge('azure-ad-identity-protection-risks-list', args)
        message = self.assertOneError(outcome, 'limit')
        status, alone = self.binary_alone('azure-ad-identity-protection-risks-list', args, self.device_params(), {})
        self.assertEqual(status, 2)
        self.assertEqual(message, alone['entries'][0]['HumanReadable'])
        self.assertEqual(outcome['set_context_calls'], 0)


class ContextConflicts(BridgeCase):
    def setUp(self):
        super().setUp()
        self.sign_in()

    def test_a_version_conflict_during_a_token_refresh_loses_no_token(self):
        old_refresh = self.context['context']['current_refresh_token']
        # The cached token has expired, so the next command refreshes it (the refresh token rotates).
        self.context['context']['valid_until'] = 0
        other = {'written_by_another_command': 'kept'}
        outcome = self.bridge('azure-ad-identity-protection-risks-list', {'limit': '1'}, concurrent_writes=[other])
        self.assertNoTraceback(outcome)
        self.assertEqual(entry_types(outcome), [1])
        self.assertEqual(outcome['context_conflicts'], 1)
        self.assertEqual(outcome['set_context_calls'], 2)
        stored = self.context['context']
        self.assertEqual(stored['written_by_another_command'], 'kept')
        self.assertNotEqual(stored['current_refresh_token'], old_refresh)
        self.assertGreater(int(stored['valid_until']), time.time())
        # The stored refresh token is the live one: the old one was rotated away, so only the
        # new one can refresh again.
        http_json('POST', self.emulator.admin + '/expire-tokens', {})
        self.context['context']['valid_until'] = 0
        again = self.bridge('azure-ad-auth-test')
        self.assertEqual(entry_types(again), [1], again['results'])

    def test_three_conflicts_in_a_row_are_a_clear_error(self):
        self.context['context']['valid_until'] = 0
        writes = [{'n': 1}, {'n': 2}, {'n': 3}]
        outcome = self.bridge('azure-ad-identity-protection-risks-list', {'limit': '1'}, concurrent_writes=writes)
        self.assertNoTraceback(outcome)
        self.assertEqual(entry_types(outcome), [1, 4])
        self.assertIn('Run the command again', outcome['results'][1]['Contents'])
        self.assertEqual(outcome['context_conflicts'], 3)


def detections_of(tenant, upn):
    """The user's risk detections in the tenant, earliest first (ties by id), as a fetch emits them."""
    mine = [d for d in tenant['riskDetections']['value'] if d.get('userPrincipalName') == upn]
    return sorted(mine, key=lambda d: (instant(d['detectedDateTime']), d['id']))


def busiest_user(tenant):
    """The user principal name with the most risk detections in the tenant."""
    counts = {}
    for detection in tenant['riskDetections']['value']:
        upn = detection.get('userPrincipalName')
        if upn:
            counts[upn] = counts.get(upn, 0) + 1
    return max(sorted(counts), key=lambda upn: counts[upn])


class Fetch(BridgeCase):
    def test_fetch_twice_then_a_failure_keeps_the_last_run(self):
        params = self.secret_params(first_fetch='2020-01-01', max_fetch='200')
        tenant = self.tenant()
        upn = busiest_user(tenant)
        params['fetch_user_principal_name'] = upn
        # The window: the user's detections from first_fetch on, earliest first, at most max_fetch.
        since = instant('2020-01-01T00:00:00Z')
        expected = [d['id'] for d in detections_of(tenant, upn) if instant(d['detectedDateTime']) >= since][:200]
        self.assertGreaterEqual(len(expected), 2, 'the busiest user has several detections')

        first = self.bridge('fetch-incidents', params=params)
        self.assertNoTraceback(first)
        self.assertEqual([i['dbotMirrorId'] for i in first['incidents']], expected)
        latest = max(instant(d['detectedDateTime']) for d in detections_of(tenant, upn) if d['id'] in expected)
        self.assertEqual(instant(first['last_run_set']['latest_detection_found']), latest)
        # The bridge adds nothing and loses nothing: the binary alone, same envelope, says the same.
        _, alone = self.binary_alone('fetch-incidents', {}, params, self.context['context'], {})
        self.assertEqual(first['incidents'], alone['incidents'])
        self.assertEqual(first['last_run_set'], alone['last_run'])
        self.assertEqual(first['results'], [])

        added = http_json('POST', self.emulator.admin + '/detections',
                          {'userPrincipalName': upn, 'riskLevel': 'high', 'riskEventType': 'unfamiliarFeatures'})
        second = self.bridge('fetch-incidents', params=params)
        self.assertEqual([i['dbotMirrorId'] for i in second['incidents']], added['ids'])
        self.assertEqual(second['incidents'][0]['severity'], 3)

        cursor = dict(self.last_run)
        broken = dict(params, fetch_filter_expression="riskLevel eq 'high' and (")
        failed = self.bridge('fetch-incidents', params=broken)
        # XSOAR's fetch convention: raise, so the instance shows the error and keeps the last run.
        self.assertIsNotNone(failed['exception'])
        self.assertIsNone(failed['incidents'])
        self.assertIsNone(failed['last_run_set'])
        self.assertEqual(self.last_run, cursor)


class MigrationFromThePythonIntegration(BridgeCase):
    """An instance that ran the Python integration keeps its sign-in and its fetch cursor."""

    def test_its_context_signs_in_without_a_new_device_code(self):
        # What the Python integration left: no token_owner, valid_until as a numeric string in the
        # past, and a refresh token (the standalone emulator's placeholder for a signed-in user).
        self.context = {'context': {'access_token': 'python-era-token', 'valid_until': '1600000000',
                                    'current_refresh_token': 'emulator-refresh-token'}, 'version': 7}
        outcome = self.bridge('azure-ad-auth-test')
        self.assertEqual(entry_types(outcome), [1], outcome['results'])
        stored = self.context['context']
        self.assertNotEqual(stored['access_token'], 'python-era-token')
        self.assertGreater(int(stored['valid_until']), time.time())
        self.assertNotIn('device_code', stored)

    def test_its_last_run_continues_after_the_cursor(self):
        params = self.secret_params(first_fetch='2020-01-01', max_fetch='200')
        tenant = self.tenant()
        upn = busiest_user(tenant)
        mine = detections_of(tenant, upn)
        self.assertGreaterEqual(len(mine), 2, 'the busiest user has several detections')
        cursor = mine[len(mine) // 2]['detectedDateTime']
        # The Python integration's cursor: the last detection time it saw, compared with gt.
        self.last_run = {'latest_detection_found': cursor}
        params['fetch_user_principal_name'] = upn
        fetched = self.bridge('fetch-incidents', params=params)
        expected = [d['id'] for d in mine if instant(d['detectedDateTime']) > instant(cursor)]
        self.assertEqual(sorted(i['dbotMirrorId'] for i in fetched['incidents']), sorted(expected))
        self.assertTrue(expected)


class BinaryTrouble(BridgeCase):
    def test_a_missing_binary_names_the_docker_image(self):
        # The image's default path, moved where nothing is, whatever this machine has installed.
        nowhere = os.path.join(self.scratch, 'nowhere', 'azure-ad-identity-protection')
        script = self.script_with('script-without-default-binary.py', {
            "BINARY_DEFAULT_PATH = '/usr/local/bin/azure-ad-identity-protection'":
                'BINARY_DEFAULT_PATH = {!r}'.format(nowhere),
        })
        outcome = self.bridge('azure-ad-auth-start', env={'AZURE_AD_IDENTITY_PROTECTION_BIN': '',
                                                          'PATH': '/usr/bin:/bin'}, script=script)
        image = self.definition['script']['dockerimage']
        self.assertOneError(outcome, 'not in this Docker image', 'Docker image ' + image + ',', 'xsoar/Dockerfile')
        self.assertEqual(outcome['set_context_calls'], 0)

    def test_the_binary_is_found_on_path(self):
        folder = os.path.join(self.scratch, 'bin-on-path')
        os.makedirs(folder, exist_ok=True)
        link = os.path.join(folder, 'azure-ad-identity-protection')
        if not os.path.exists(link):
            os.symlink(BINARY, link)
        self.context = {'context': {'some_key': 'x'}, 'version': 4}
        outcome = self.bridge('azure-ad-auth-reset', env={'AZURE_AD_IDENTITY_PROTECTION_BIN': '',
                                                          'PATH': folder + ':/usr/bin:/bin'})
        self.assertEqual(entry_types(outcome), [1], outcome['results'])
        self.assertEqual(self.context, {'context': {}, 'version': 5})

    def test_a_binary_path_that_is_not_there_is_named(self):
        missing = os.path.join(self.scratch, 'nowhere', 'azure-ad-identity-protection')
        outcome = self.bridge('azure-ad-auth-start', env={'AZURE_AD_IDENTITY_PROTECTION_BIN': missing})
        self.assertOneError(outcome, missing)

    def fake_binary(self, body):
        path = os.path.join(self.scratch, 'fake-binary')
        with open(path, 'w') as f:
            f.write('#!/bin/sh\n' + body + '\n')
        os.chmod(path, 0o755)
        return {'AZURE_AD_IDENTITY_PROTECTION_BIN': path}

    def test_non_json_output_is_an_error_not_a_traceback(self):
        env = self.fake_binary('cat >/dev/null; echo "access_token=abc123 not json"; exit 0')
        outcome = self.bridge('azure-ad-identity-protection-risks-list', env=env)
        message = self.assertOneError(outcome, 'without a JSON result')
        self.assertNotIn('abc123', message)

    def test_a_crash_is_an_error_naming_the_signal(self):
        env = self.fake_binary('cat >/dev/null; kill -SEGV $$')
        outcome = self.bridge('azure-ad-identity-protection-risks-list', env=env)
        self.assertOneError(outcome, 'signal 11')

    def test_stderr_goes_to_the_debug_log(self):
        env = self.fake_binary('cat >/dev/null; echo "GET graph /beta/x 200" >&2; '
                               'echo \'{"entries":[{"Type":1,"ContentsFormat":"text","Contents":"hi",'
                               '"HumanReadable":"hi","ReadableContentsFormat":"markdown"}],"context":{},'
                               '"context_changed":false}\'')
        outcome = self.bridge('azure-ad-auth-test', env=env)
        self.assertEqual(entry_types(outcome), [1])
        self.assertTrue(any('GET graph /beta/x 200' in line for line in outcome['debug']), outcome['debug'])

    def test_no_answer_in_time_stops_the_binary_and_says_so_without_stdout(self):
        # A binary that writes part of a result and then hangs; the bridge's own timeout formula
        # with its constants set to a 2-second budget (the real one is minutes).
        env = self.fake_binary('cat >/dev/null; echo \'{"context": {"access_token": "abc123-partial\'; exec sleep 60')
        script = self.script_with('script-with-a-short-timeout.py', {
            'ATTEMPTS_PER_COMMAND = 24': 'ATTEMPTS_PER_COMMAND = 0',
            'BACKOFF_PER_COMMAND = 260': 'BACKOFF_PER_COMMAND = 0',
            'TIMEOUT_MARGIN = 30': 'TIMEOUT_MARGIN = 2',
        })
        outcome = self.bridge('azure-ad-identity-protection-risks-list', env=env, script=script)
        message = self.assertOneError(outcome, 'did not finish within 2 seconds and was stopped',
                                      'nothing was stored')
        self.assertNotIn('abc123', message)
        self.assertNotIn('abc123', json.dumps(outcome))
        self.assertEqual(outcome['set_context_calls'], 0)

    def test_a_failed_fetch_from_a_crash_raises_and_keeps_the_last_run(self):
        self.last_run = {'latest_detection_found': '2024-01-01T00:00:00Z'}
        env = self.fake_binary('cat >/dev/null; exit 101')
        outcome = self.bridge('fetch-incidents', env=env)
        self.assertIsNotNone(outcome['exception'])
        self.assertIn('exit status 101', outcome['exception']['message'])
        self.assertIsNone(outcome['last_run_set'])


# A stand-in for the binary: it keeps the envelope it read (for the test to look at), refuses an
# argument the envelope schema would refuse (objects, and arrays of anything but strings and
# numbers) or an instance_name that is not a string of at most 512 characters, as the binary
# does with exit 2, and otherwise prints the canned result with the canned exit status.
FAKE_MIRROR_BINARY = '''#!{python}
import json, sys
envelope = json.load(sys.stdin)
with open({envelope_path!r}, 'w') as f:
    json.dump(envelope, f)
def scalar(value):
    return value is None or isinstance(value, (str, int, float, bool))
def allowed(value):
    return scalar(value) or (isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value))
bad = [name for name, value in envelope.get('args', {{}}).items() if not allowed(value)]
name = envelope.get('instance_name')
if name is not None and not (isinstance(name, str) and len(name) <= 512):
    bad.append('instance_name')
if bad:
    text = 'fake binary: the envelope breaks the schema at ' + ', '.join(bad)
    print(json.dumps({{'entries': [{{'Type': 4, 'ContentsFormat': 'text', 'Contents': text, 'HumanReadable': text,
                                   'ReadableContentsFormat': 'markdown'}}], 'context_changed': False}}))
    sys.exit(2)
with open({result_path!r}) as f:
    canned = json.load(f)
print(json.dumps(canned['result']))
sys.exit(canned['status'])
'''


def note_entry(text='done'):
    return {'Type': 1, 'ContentsFormat': 'text', 'Contents': text, 'HumanReadable': text,
            'ReadableContentsFormat': 'markdown'}


def error_entry(text, http_status):
    return {'Type': 4, 'ContentsFormat': 'json', 'HumanReadable': text, 'ReadableContentsFormat': 'markdown',
            'Contents': {'error': {'code': 'TooManyRequests' if http_status == 429 else 'InternalServerError'},
                         'http_status': http_status}}


CLOSE_ENTRY = {'Type': 1, 'ContentsFormat': 'json',
               'Contents': {'dbotIncidentClose': True, 'closeReason': 'Resolved',
                            'closeNotes': 'Dismissed in Entra: adminDismissedAllRiskForUser'}}
DETECTION = {'id': 'det-1', 'riskState': 'dismissed', 'riskDetail': 'adminDismissedAllRiskForUser',
             'entra_object_type': 'riskDetection', 'mirror_direction': 'Both', 'mirror_instance': 'Entra prod'}
THROTTLED = 'Microsoft Graph throttled the request (HTTP 429) and the retries ran out. Run it again later.'
SCHEMES = [{'type_name': 'Azure AD Identity Protection Risk Detection',
            'fields': {'closeReason': 'Why the incident was closed', 'closeNotes': 'The closing notes'}},
           {'type_name': 'Azure AD Identity Protection Risky User',
            'fields': {'closeReason': 'Why the incident was closed', 'closeNotes': 'The closing notes'}}]


class MirroringTranslation(BridgeCase):
    """The bridge's side of mirroring, against a fake binary: what the envelope holds, and how a
    result's `mirror` member (or a failure) becomes the answer in CommonServerPython's types."""

    def fake(self, result, status=0):
        """Sets the fake binary's answer; returns the environment that selects it."""
        self.envelope_path = os.path.join(self.scratch, 'fake-envelope.json')
        result_path = os.path.join(self.scratch, 'fake-result.json')
        if os.path.exists(self.envelope_path):
            os.remove(self.envelope_path)
        with open(result_path, 'w') as f:
            json.dump({'result': result, 'status': status}, f)
        path = os.path.join(self.scratch, 'fake-mirror-binary')
        with open(path, 'w') as f:
            f.write(FAKE_MIRROR_BINARY.format(python=sys.executable, envelope_path=self.envelope_path,
                                              result_path=result_path))
        os.chmod(path, 0o755)
        return {'AZURE_AD_IDENTITY_PROTECTION_BIN': path}

    def envelope(self):
        with open(self.envelope_path) as f:
            return json.load(f)

    def ok(self, mirror, **extra):
        result = {'entries': [note_entry()], 'context_changed': False, 'context': {}, 'mirror': mirror}
        result.update(extra)
        return result

    def failed(self, text, http_status, context=None):
        return {'entries': [error_entry(text, http_status)], 'context_changed': context is not None,
                'context': context or {}}

    # --- the envelope -------------------------------------------------------------------------

    def test_every_envelope_names_the_instance(self):
        for command in ('azure-ad-auth-test', 'get-mapping-fields', 'fetch-incidents'):
            env = self.fake(self.ok({'schemes': SCHEMES}, incidents=[], last_run={}))
            outcome = self.bridge(command, env=env, instance='Entra ID (prod)')
            self.assertNoTraceback(outcome)
            self.assertEqual(self.envelope()['instance_name'], 'Entra ID (prod)', command)
            self.assertIn('integrationInstance', outcome['calls'])
        # A server that names no instance: null, so incidents carry no dbotMirrorInstance.
        self.bridge('get-mapping-fields', env=self.fake(self.ok({'schemes': SCHEMES})), instance='')
        self.assertIsNone(self.envelope()['instance_name'])

    def test_update_remote_system_sends_data_delta_and_entries_as_json_text(self):
        args = {'data': {'closeReason': 'Resolved', 'closeNotes': 'done', 'id': 'inc-7'},
                'entries': [{'id': '3@7', 'type': 1, 'tags': ['CommentToEntra'], 'contents': 'note'}],
                'incidentChanged': True, 'remoteId': 'det-1', 'status': 2,
                'delta': {'closeReason': 'Resolved', 'closeNotes': 'done'}}
        env = self.fake(self.ok({'remote_id': 'det-1'}))
        outcome = self.bridge('update-remote-system', args, env=env)
        self.assertNoTraceback(outcome)
        sent = self.envelope()['args']
        for name in ('data', 'entries', 'delta'):
            self.assertIsInstance(sent[name], str, name)
            self.assertEqual(json.loads(sent[name]), args[name], name)
        self.assertEqual({k: sent[k] for k in ('incidentChanged', 'remoteId', 'status')},
                         {'incidentChanged': True, 'remoteId': 'det-1', 'status': 2})
        # XSOAR reads the remote id, a plain string, as the answer.
        self.assertEqual(outcome['results'], ['det-1'])

    def test_json_text_arguments_typed_by_hand_pass_unchanged(self):
        args = {'data': '{"closeReason": "Resolved"}', 'entries': '[]', 'remoteId': 'det-1', 'status': '2'}
        env = self.fake(self.ok({'remote_id': 'det-1'}))
        self.bridge('update-remote-system', args, env=env)
        self.assertEqual(self.envelope()['args'], args)

    def test_other_commands_arguments_pass_unchanged(self):
        args = {'id': 'det-1', 'lastUpdate': '2024-06-01T10:00:00+00:00'}
        env = self.fake(self.ok({'object': DETECTION, 'entries': []}))
        self.bridge('get-remote-data', args, env=env)
        self.assertEqual(self.envelope()['args'], args)

    # --- answers ------------------------------------------------------------------------------

    def test_get_modified_remote_data_answers_the_ids(self):
        env = self.fake(self.ok({'modified_ids': ['det-1', 'det-2', 'user-9']}))
        outcome = self.bridge('get-modified-remote-data', {'lastUpdate': '2024-06-01T10:00:00+00:00'}, env=env)
        self.assertNoTraceback(outcome)
        self.assertEqual(outcome['results'],
                         [{'Contents': ['det-1', 'det-2', 'user-9'], 'Type': 1, 'ContentsFormat': 'json'}])

    def test_get_remote_data_answers_the_object_then_its_entries(self):
        env = self.fake(self.ok({'object': DETECTION, 'entries': [CLOSE_ENTRY]}))
        outcome = self.bridge('get-remote-data', {'id': 'det-1', 'lastUpdate': '0'}, env=env)
        self.assertNoTraceback(outcome)
        # extract_for_local: the object, then the entries; not the binary's war-room note.
        self.assertEqual(outcome['results'], [DETECTION, CLOSE_ENTRY])

    def test_get_remote_data_for_an_id_gone_from_entra_is_the_object_and_a_note(self):
        gone = note_entry('Risk detection det-0 no longer exists in Microsoft Entra ID.')
        env = self.fake(self.ok({'object': {'id': 'det-0'}, 'entries': [gone]}))
        outcome = self.bridge('get-remote-data', {'id': 'det-0', 'lastUpdate': '0'}, env=env)
        self.assertNoTraceback(outcome)
        self.assertEqual(outcome['results'], [{'id': 'det-0'}, gone])

    def test_get_mapping_fields_answers_each_scheme(self):
        env = self.fake(self.ok({'schemes': SCHEMES}))
        outcome = self.bridge('get-mapping-fields', env=env)
        self.assertNoTraceback(outcome)
        self.assertEqual(outcome['results'], [{scheme['type_name']: scheme['fields'] for scheme in SCHEMES}])

    def test_a_binary_without_the_mirror_member_is_an_error_not_a_bad_answer(self):
        for command, phrase in (('update-remote-system', 'mirror.remote_id'),
                                ('get-mapping-fields', 'mirror.schemes')):
            env = self.fake({'entries': [note_entry()], 'context_changed': False, 'context': {}})
            outcome = self.bridge(command, {'remoteId': 'det-1'}, env=env)
            self.assertOneError(outcome, phrase, 'older than this integration')
        env = self.fake(self.ok({'object': {}, 'entries': [CLOSE_ENTRY]}))
        outcome = self.bridge('get-remote-data', {'id': 'det-1', 'lastUpdate': '0'}, env=env)
        [answer] = outcome['results']
        self.assertEqual(answer['id'], 'det-1')
        self.assertIn('mirror.object', answer['in_mirror_error'])

    # --- failures -----------------------------------------------------------------------------

    def test_get_remote_data_failing_answers_in_mirror_error(self):
        text = 'Microsoft Graph answered 500 Internal Server Error for riskDetections/det-1.'
        env = self.fake(self.failed(text, 500), status=1)
        outcome = self.bridge('get-remote-data', {'id': 'det-1', 'lastUpdate': '0'}, env=env)
        self.assertNoTraceback(outcome)
        self.assertEqual(outcome['results'], [{'id': 'det-1', 'in_mirror_error': text}])
        self.assertNotIn('API rate limit', json.dumps(outcome['results']))

    def test_get_remote_data_throttled_names_the_rate_limit_and_keeps_the_token(self):
        # The token was refreshed before Graph throttled: the context still has to be stored.
        refreshed = {'access_token': 'fresh-token', 'valid_until': 4102444800}
        env = self.fake(self.failed(THROTTLED, 429, context=refreshed), status=1)
        outcome = self.bridge('get-remote-data', {'id': 'det-1', 'lastUpdate': '0'}, env=env)
        self.assertNoTraceback(outcome)
        [answer] = outcome['results']
        self.assertEqual(set(answer), {'id', 'in_mirror_error'})
        self.assertEqual(answer['id'], 'det-1')
        self.assertIn('API rate limit', answer['in_mirror_error'])
        self.assertIn(THROTTLED, answer['in_mirror_error'])
        self.assertEqual(self.context['context'], refreshed)

    def test_get_remote_data_with_an_unusable_envelope_answers_in_mirror_error(self):
        text = 'The instance parameter request_timeout must be a whole number from 1 to 600.'
        env = self.fake({'entries': [error_entry(text, None)], 'context_changed': False, 'context': {}}, status=2)
        outcome = self.bridge('get-remote-data', {'id': 'det-1', 'lastUpdate': '0'}, env=env)
        self.assertEqual(outcome['results'], [{'id': 'det-1', 'in_mirror_error': text}])

    def test_get_modified_remote_data_failing_says_skip_update(self):
        text = 'Microsoft Graph answered 503 Service Unavailable for riskDetections.'
        env = self.fake(self.failed(text, 503), status=1)
        outcome = self.bridge('get-modified-remote-data', {'lastUpdate': '0'}, env=env)
        message = self.assertOneError(outcome, 'skip update', text)
        self.assertNotIn('API rate limit', message)

    def test_get_modified_remote_data_throttled_says_skip_update_and_rate_limit(self):
        env = self.fake(self.failed(THROTTLED, 429), status=1)
        outcome = self.bridge('get-modified-remote-data', {'lastUpdate': '0'}, env=env)
        self.assertOneError(outcome, 'skip update', 'API rate limit', THROTTLED)

    def test_update_remote_system_failing_is_the_binarys_error(self):
        text = ('Microsoft Graph refused to dismiss the user (403 Forbidden): '
                'IdentityRiskyUser.ReadWrite.All is missing.')
        env = self.fake(self.failed(text, 403), status=1)
        args = {'remoteId': 'det-1', 'status': 2, 'data': {'closeReason': 'Resolved'}, 'delta': {}, 'entries': []}
        outcome = self.bridge('update-remote-system', args, env=env)
        self.assertEqual(self.assertOneError(outcome), text)

    def test_get_mapping_fields_failing_is_an_error(self):
        text = 'Sign in first: run !azure-ad-auth-start.'
        env = self.fake(self.failed(text, 401), status=1)
        outcome = self.bridge('get-mapping-fields', env=env)
        self.assertEqual(self.assertOneError(outcome), text)

    # --- the context --------------------------------------------------------------------------

    def test_a_version_conflict_during_a_mirror_command_loses_no_token(self):
        # The cached token had expired: the binary refreshed it (the refresh token rotated) while
        # another command of the instance wrote the context.
        refreshed = {'access_token': 'new', 'current_refresh_token': 'r2', 'valid_until': 4102444800}
        for command, args, mirror, answer in (
                ('get-modified-remote-data', {'lastUpdate': '0'}, {'modified_ids': ['det-1']},
                 [{'Contents': ['det-1'], 'Type': 1, 'ContentsFormat': 'json'}]),
                ('get-remote-data', {'id': 'det-1', 'lastUpdate': '0'}, {'object': DETECTION, 'entries': []},
                 [DETECTION]),
                ('update-remote-system', {'remoteId': 'det-1', 'status': 1}, {'remote_id': 'det-1'}, ['det-1']),
                ('get-mapping-fields', {}, {'schemes': SCHEMES},
                 [{scheme['type_name']: scheme['fields'] for scheme in SCHEMES}])):
            self.context = {'context': {'access_token': 'old', 'current_refresh_token': 'r1'}, 'version': 3}
            env = self.fake(self.ok(mirror, context=refreshed, context_changed=True))
            outcome = self.bridge(command, args, env=env, concurrent_writes=[{'written_by_another_command': 'kept'}])
            self.assertNoTraceback(outcome)
            self.assertEqual(outcome['results'], answer, command)
            self.assertEqual(outcome['context_conflicts'], 1, command)
            self.assertEqual(outcome['set_context_calls'], 2, command)
            self.assertEqual(self.context['context'], dict(refreshed, written_by_another_command='kept'), command)

    def test_three_conflicts_during_a_mirror_command_are_its_failure(self):
        refreshed = {'access_token': 'new'}
        writes = [{'n': 1}, {'n': 2}, {'n': 3}]
        env = self.fake(self.ok({'remote_id': 'det-1'}, context=refreshed, context_changed=True))
        outcome = self.bridge('update-remote-system', {'remoteId': 'det-1', 'status': 2}, env=env,
                              concurrent_writes=writes)
        self.assertOneError(outcome, 'Run the command again')
        env = self.fake(self.ok({'object': DETECTION, 'entries': []}, context=refreshed, context_changed=True))
        outcome = self.bridge('get-remote-data', {'id': 'det-1', 'lastUpdate': '0'}, env=env,
                              concurrent_writes=writes)
        [answer] = outcome['results']
        self.assertEqual(answer['id'], 'det-1')
        self.assertIn('Run the command again', answer['in_mirror_error'])


MIRROR_TYPES = ('Azure AD Identity Protection Risk Detection', 'Azure AD Identity Protection Risky User',
                'Azure AD Identity Protection Service Principal Risk Detection')


def iso_now(seconds_ago=0):
    """Now, as XSOAR's lastUpdate arrives: ISO-8601 with an offset."""
    moment = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=seconds_ago)
    return moment.isoformat(timespec='seconds')


class MirroringAgainstTheEmulator(BridgeCase):
    """The four mirroring commands end to end: the bridge, the binary and the emulator's tenant,
    which records what Graph was asked (`/_emulator/requests`) and holds the risk states."""

    def setUp(self):
        super().setUp()
        self.params = self.secret_params(mirror_direction='Incoming And Outgoing', close_incident='true',
                                         close_out='true')
        # A token first, so a fault plan set later reaches Graph, not the token endpoint.
        self.assertEqual(self.bridge('test-module', params=self.params)['results'], ['ok'])

    def mirror(self, command, args=None, **overrides):
        outcome = self.bridge(command, args or {}, params=dict(self.params, **overrides), instance='Entra prod')
        self.assertNoTraceback(outcome)
        return outcome

    def user_at_risk_with_detections(self):
        """An atRisk user of the tenant and that user's detections (at least one with a request id)."""
        tenant = self.tenant()
        by_user = {}
        for detection in tenant['riskDetections']['value']:
            by_user.setdefault(detection.get('userId'), []).append(detection)
        for user in tenant['riskyUsers']['value']:
            mine = by_user.get(user['id'], [])
            if user['riskState'] == 'atRisk' and any(d.get('requestId') for d in mine) \
                    and user['id'] not in self.used_users():
                self.used_users().add(user['id'])
                return user, mine
        self.fail('the emulator tenant has no atRisk user with detections left')

    @classmethod
    def used_users(cls):
        # The class shares one emulator: each test takes a user no earlier test changed.
        if not hasattr(cls, '_used_users'):
            cls._used_users = set()
        return cls._used_users

    def requests_since(self, start):
        return http_json('GET', self.emulator.admin + '/requests')['requests'][start:]

    def request_count(self):
        return len(http_json('GET', self.emulator.admin + '/requests')['requests'])

    def throttle_graph(self):
        http_json('POST', self.emulator.admin + '/faults', {'throttle_every': 1, 'throttle_retry_after': 0})
        self.addCleanup(http_json, 'POST', self.emulator.admin + '/faults',
                        {'throttle_every': None, 'throttle_retry_after': None})

    def dismiss(self, user):
        outcome = self.bridge('azure-ad-identity-protection-risky-user-dismiss', {'user_ids': user['id']},
                              params=self.params)
        self.assertEqual(entry_types(outcome), [1], outcome['results'])

    # --- get-modified-remote-data ----------------------------------------------------------------

    def test_after_a_dismissal_the_users_detections_are_modified(self):
        user, detections = self.user_at_risk_with_detections()
        before = iso_now(seconds_ago=1)
        self.dismiss(user)
        outcome = self.mirror('get-modified-remote-data', {'lastUpdate': before})
        [answer] = outcome['results']
        self.assertEqual((answer['Type'], answer['ContentsFormat']), (1, 'json'))
        self.assertTrue(all(isinstance(i, str) for i in answer['Contents']))
        self.assertLessEqual({d['id'] for d in detections}, set(answer['Contents']))

    def test_nothing_changed_since_now_lists_nothing_of_that_user(self):
        user, detections = self.user_at_risk_with_detections()
        outcome = self.mirror('get-modified-remote-data', {'lastUpdate': iso_now()})
        [answer] = outcome['results']
        self.assertEqual((answer['Type'], answer['ContentsFormat']), (1, 'json'))
        self.assertIsInstance(answer['Contents'], list)
        self.assertFalse({d['id'] for d in detections} & set(answer['Contents']))

    # --- get-remote-data -----------------------------------------------------------------------

    def test_the_object_and_a_close_entry_after_the_user_is_dismissed(self):
        user, detections = self.user_at_risk_with_detections()
        before = iso_now(seconds_ago=1)
        self.dismiss(user)
        detection = detections[0]
        outcome = self.mirror('get-remote-data', {'id': detection['id'], 'lastUpdate': before})
        mirrored, *entries = outcome['results']
        self.assertEqual(mirrored['id'], detection['id'])
        self.assertEqual(mirrored['entra_object_type'], 'riskDetection')
        self.assertEqual(mirrored['riskState'], 'dismissed')
        self.assertEqual(mirrored['mirror_direction'], 'Both')
        self.assertEqual(mirrored['mirror_instance'], 'Entra prod')
        closing = [e for e in entries if isinstance(e.get('Contents'), dict) and e['Contents'].get('dbotIncidentClose')]
        self.assertEqual(len(closing), 1, entries)
        self.assertEqual((closing[0]['Type'], closing[0]['ContentsFormat']), (1, 'json'))
        self.assertTrue(closing[0]['Contents']['closeReason'])
        self.assertTrue(closing[0]['Contents']['closeNotes'])

    def test_without_close_incident_no_close_entry(self):
        user, detections = self.user_at_risk_with_detections()
        self.dismiss(user)
        outcome = self.mirror('get-remote-data', {'id': detections[0]['id'], 'lastUpdate': '0'},
                              close_incident='false')
        mirrored, *entries = outcome['results']
        self.assertEqual(mirrored['riskState'], 'dismissed')
        self.assertFalse([e for e in entries if isinstance(e.get('Contents'), dict)
                          and e['Contents'].get('dbotIncidentClose')], entries)

    def test_a_risky_user_is_mirrored_by_its_id(self):
        user, _ = self.user_at_risk_with_detections()
        outcome = self.mirror('get-remote-data', {'id': user['id'], 'lastUpdate': '0'}, fetch_risky_users='true')
        mirrored = outcome['results'][0]
        self.assertEqual((mirrored['id'], mirrored['entra_object_type']), (user['id'], 'riskyUser'))

    def test_an_unknown_id_is_a_note_not_a_failure(self):
        gone = '00000000-0000-4000-8000-000000000000'
        outcome = self.mirror('get-remote-data', {'id': gone, 'lastUpdate': '0'})
        mirrored, *entries = outcome['results']
        self.assertEqual(mirrored, {'id': gone})
        self.assertEqual([e['Type'] for e in entries], [1])
        self.assertNotIn('in_mirror_error', json.dumps(outcome['results']))

    def test_a_throttled_graph_answers_the_rate_limit_in_mirror_error(self):
        self.throttle_graph()
        outcome = self.mirror('get-remote-data', {'id': '00000000-0000-4000-8000-000000000001', 'lastUpdate': '0'})
        [answer] = outcome['results']
        self.assertEqual(answer['id'], '00000000-0000-4000-8000-000000000001')
        self.assertIn('API rate limit', answer['in_mirror_error'])

    def test_a_throttled_graph_skips_the_modified_update_naming_the_rate_limit(self):
        self.throttle_graph()
        outcome = self.mirror('get-modified-remote-data', {'lastUpdate': iso_now()})
        self.assertOneError(outcome, 'skip update', 'API rate limit')

    # --- update-remote-system --------------------------------------------------------------------

    def closed(self, detection, reason, status=2):
        return {'remoteId': detection['id'], 'status': status, 'incidentChanged': True, 'entries': [],
                'data': {'closeReason': reason, 'closeNotes': 'closed in XSOAR', 'id': '42'},
                'delta': {'closeReason': reason, 'closeNotes': 'closed in XSOAR'}}

    def test_closed_as_resolved_dismisses_the_user(self):
        user, detections = self.user_at_risk_with_detections()
        start = self.request_count()
        outcome = self.mirror('update-remote-system', self.closed(detections[0], 'Resolved'))
        self.assertEqual(outcome['results'], [detections[0]['id']])
        posts = [r['path'] for r in self.requests_since(start) if r['method'] == 'POST']
        self.assertTrue(any(path.endswith('/riskyUsers/dismiss') for path in posts), posts)
        [now] = [u for u in self.tenant()['riskyUsers']['value'] if u['id'] == user['id']]
        self.assertEqual(now['riskState'], 'dismissed')

    def test_closed_as_false_positive_confirms_the_sign_in_safe(self):
        user, detections = self.user_at_risk_with_detections()
        detection = next(d for d in detections if d.get('requestId'))
        start = self.request_count()
        outcome = self.mirror('update-remote-system', self.closed(detection, 'False Positive'))
        self.assertEqual(outcome['results'], [detection['id']])
        posts = [r['path'] for r in self.requests_since(start) if r['method'] == 'POST']
        self.assertTrue(any(path.endswith('/auditLogs/signIns/confirmSafe') for path in posts), posts)

    def test_an_incident_not_closed_or_close_out_off_makes_no_request(self):
        user, detections = self.user_at_risk_with_detections()
        start = self.request_count()
        outcome = self.mirror('update-remote-system', self.closed(detections[0], 'Resolved', status=1))
        self.assertEqual(outcome['results'], [detections[0]['id']])
        outcome = self.mirror('update-remote-system', self.closed(detections[0], 'Resolved'), close_out='false')
        self.assertEqual(outcome['results'], [detections[0]['id']])
        self.assertEqual([r for r in self.requests_since(start) if r['method'] == 'POST'], [])
        [now] = [u for u in self.tenant()['riskyUsers']['value'] if u['id'] == user['id']]
        self.assertEqual(now['riskState'], 'atRisk')

    def test_a_throttled_dismissal_is_an_error_the_server_shows(self):
        user, detections = self.user_at_risk_with_detections()
        self.throttle_graph()
        outcome = self.mirror('update-remote-system', self.closed(detections[0], 'Resolved'))
        # The binary's own message for a Graph that kept answering 429.
        self.assertOneError(outcome, 'throttling')

    # --- get-mapping-fields ----------------------------------------------------------------------

    def test_get_mapping_fields_lists_the_three_types(self):
        outcome = self.mirror('get-mapping-fields')
        [mapping] = outcome['results']
        self.assertEqual(set(mapping), set(MIRROR_TYPES))
        for type_name in MIRROR_TYPES:
            self.assertLessEqual({'closeReason', 'closeNotes'}, set(mapping[type_name]), type_name)


def context_item(entry, name):
    """What an entry put under AADIdentityProtection.<name>(val.id === obj.id)."""
    return entry['EntryContext']['AADIdentityProtection.{}(val.id === obj.id)'.format(name)]


class InvestigateAndRespond(BridgeCase):
    """Issue 18's commands through the bridge in device-code mode: each shows the binary's
    entries and context as the binary alone gives them, and the permission group each asked for
    on first use is stored in the integration context (`token_permission_groups`)."""

    SIGN_IN_GET = 'azure-ad-identity-protection-sign-in-get'
    SIGN_INS_LIST = 'azure-ad-identity-protection-sign-ins-list'

    def setUp(self):
        super().setUp()
        self.sign_in()
        self.assertNotIn('token_permission_groups', self.context['context'])

    def real_time_detection(self, n):
        """The tenant's n-th atRisk detection of a sign-in (by id): each test takes its own."""
        tenant = self.tenant()
        logged = {s['id'] for s in tenant['signIns']['value']}
        found = sorted((d for d in tenant['riskDetections']['value']
                        if d.get('requestId') in logged and d.get('riskState') == 'atRisk'),
                       key=lambda d: d['id'])
        return found[n]

    def assertAsTheBinaryAlone(self, command, args, outcome, exit_status=0):
        """The bridge wrote the binary's entries, and stored its context: run again from that
        context, the binary alone answers the same (an action repeated changes nothing more)."""
        status, alone = self.binary_alone(command, args, self.device_params(), self.context['context'])
        self.assertEqual(status, exit_status, alone)
        self.assertEqual(per_request_ids_blanked(outcome['results']), per_request_ids_blanked(alone['entries']))
        self.assertFalse(alone.get('context_changed'), 'the stored context already held the new token')

    def assertGroups(self, *groups):
        self.assertEqual(self.context['context'].get('token_permission_groups'), list(groups))

    def test_sign_in_get_by_detection_id(self):
        detection = self.real_time_detection(0)
        args = {'detection_id': detection['id']}
        outcome = self.bridge(self.SIGN_IN_GET, args)
        self.assertNoTraceback(outcome)
        self.assertEqual(entry_types(outcome), [1], outcome['results'])
        [sign_in] = context_item(outcome['results'][0], 'SignIn')
        [logged] = [s for s in self.tenant()['signIns']['value'] if s['id'] == detection['requestId']]
        for key in ('id', 'userId', 'ipAddress', 'createdDateTime'):
            self.assertEqual(sign_in[key], logged[key], key)
        self.assertEqual(sign_in['userId'], detection['userId'])
        self.assertGroups('sign_ins')
        self.assertAsTheBinaryAlone(self.SIGN_IN_GET, args, outcome)

    def test_sign_ins_list_around_a_detection(self):
        detection = self.real_time_detection(1)
        args = {'around_detection_id': detection['id'], 'window': '1 hour'}
        outcome = self.bridge(self.SIGN_INS_LIST, args)
        self.assertNoTraceback(outcome)
        self.assertEqual(entry_types(outcome), [1], outcome['results'])
        # Worked out here: the user's sign-ins from an hour before the activity to an hour after
        # the detection, newest first as the tenant holds them.
        hour = datetime.timedelta(hours=1)
        since = min(instant(detection['activityDateTime']), instant(detection['detectedDateTime'])) - hour
        until = instant(detection['detectedDateTime']) + hour
        expected = [s['id'] for s in self.tenant()['signIns']['value']
                    if s['userId'] == detection['userId'] and since <= instant(s['createdDateTime']) <= until]
        listed = [s['id'] for s in context_item(outcome['results'][0], 'SignIn')]
        self.assertEqual(listed, expected)
        self.assertIn(detection['requestId'], listed)
        self.assertGroups('sign_ins')
        self.assertAsTheBinaryAlone(self.SIGN_INS_LIST, args, outcome)

    def test_confirm_safe(self):
        detection = self.real_time_detection(2)
        args = {'request_ids': detection['requestId']}
        outcome = self.bridge('azure-ad-identity-protection-sign-in-confirm-safe', args)
        self.assertNoTraceback(outcome)
        self.assertEqual(entry_types(outcome), [1], outcome['results'])
        self.assertEqual(outcome['results'][0]['Contents']['requestIds'], [detection['requestId']])
        tenant = self.tenant()
        [now] = [d for d in tenant['riskDetections']['value'] if d['id'] == detection['id']]
        [sign_in] = [s for s in tenant['signIns']['value'] if s['id'] == detection['requestId']]
        self.assertEqual((now['riskState'], now['riskDetail']), ('confirmedSafe', 'adminConfirmedSigninSafe'))
        self.assertEqual(sign_in['riskState'], 'confirmedSafe')
        # Confirming takes the users' own permission: no group is added.
        self.assertNotIn('token_permission_groups', self.context['context'])
        self.assertAsTheBinaryAlone('azure-ad-identity-protection-sign-in-confirm-safe', args, outcome)

    def test_sessions_revoke_with_one_unknown_user(self):
        user = self.tenant()['riskyUsers']['value'][0]
        args = {'user_id': '{},nobody@contoso.com'.format(user['userPrincipalName'])}
        outcome = self.bridge('azure-ad-identity-protection-user-sessions-revoke', args)
        self.assertNoTraceback(outcome)
        self.assertEqual(entry_types(outcome), [1, 4], outcome['results'])
        revoked, error = outcome['results']
        self.assertEqual([(r['user'], r['revoked']) for r in revoked['Contents']],
                         [(user['userPrincipalName'], True), ('nobody@contoso.com', False)])
        self.assertIn('failed for 1 of 2 users (nobody@contoso.com)', error['HumanReadable'])
        self.assertGroups('sessions')
        self.assertAsTheBinaryAlone('azure-ad-identity-protection-user-sessions-revoke', args, outcome,
                                    exit_status=1)

    def test_ip_block_twice(self):
        args = {'ip': '203.0.113.77', 'named_location': 'Bridge test blocked addresses'}
        start = len(http_json('GET', self.emulator.admin + '/requests')['requests'])
        first = self.bridge('azure-ad-identity-protection-ip-block', args)
        self.assertNoTraceback(first)
        self.assertEqual(entry_types(first), [1], first['results'])
        self.assertIn('Created the IP named location', first['results'][0]['HumanReadable'])
        location = first['results'][0]['EntryContext']['AADIdentityProtection.NamedLocation(val.id === obj.id)']
        self.assertEqual([r['cidrAddress'] for r in location['ipRanges']], ['203.0.113.77/32'])
        self.assertGroups('policies')
        middle = len(http_json('GET', self.emulator.admin + '/requests')['requests'])

        second = self.bridge('azure-ad-identity-protection-ip-block', args)
        self.assertNoTraceback(second)
        self.assertEqual(entry_types(second), [1], second['results'])
        self.assertIn('already in the named location', second['results'][0]['HumanReadable'])
        self.assertIn('nothing was changed', second['results'][0]['HumanReadable'])
        requests = http_json('GET', self.emulator.admin + '/requests')['requests']
        writes = [(r['method'], r['status']) for r in requests[start:] if 'namedLocations' in r['path']
                  and r['method'] != 'GET']
        self.assertEqual(writes, [('POST', 201)], 'one creation, then no write')
        self.assertEqual(len(requests[middle:]), 2, 'the second block only looks: the location, the policies')
        self.assertAsTheBinaryAlone('azure-ad-identity-protection-ip-block', args, second)

    def test_named_locations_list(self):
        args = {'display_name': 'Corporate network'}
        outcome = self.bridge('azure-ad-identity-protection-named-locations-list', args)
        self.assertNoTraceback(outcome)
        self.assertEqual(entry_types(outcome), [1], outcome['results'])
        [location] = context_item(outcome['results'][0], 'NamedLocation')
        self.assertEqual((location['displayName'], location['isTrusted']), ('Corporate network', True))
        self.assertGroups('policies')
        self.assertAsTheBinaryAlone('azure-ad-identity-protection-named-locations-list', args, outcome)


# A probe that loads the embedded script as the server does (after CommonServerPython, in one
# namespace) but under another __name__, so no command runs, and prints process_timeout(params)
# for each params object given.
PROCESS_TIMEOUT_PROBE = """
import json, os, sys
runtime, script, cases = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
with open(os.path.join(runtime, 'CommonServerPython.py')) as f:
    common = f.read()
with open(script) as f:
    code = compile(common + '\\n' + f.read(), script, 'exec')
namespace = {'__name__': 'process_timeout_probe'}
exec(code, namespace)
print(json.dumps([namespace['process_timeout'](params) for params in cases]))
"""


class ProcessTimeout(BridgeCase):
    """The bridge stops the binary a little after the binary's own worst case (docs/protocol.md
    section 1): 24 request timeouts and 260 s of backoff, plus 30 s."""

    def process_timeouts(self, cases):
        state = os.path.join(self.scratch, 'probe-state.json')
        with open(state, 'w') as f:
            json.dump({}, f)
        environment = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'PYTHONPATH': RUNTIME,
                       'DEMISTOMOCK_STATE': state}
        done = subprocess.run([sys.executable, '-c', PROCESS_TIMEOUT_PROBE, RUNTIME, self.script, json.dumps(cases)],
                              env=environment, capture_output=True, text=True, timeout=60, check=True)
        return json.loads(done.stdout)

    def test_the_timeout_is_24_request_timeouts_plus_290_seconds(self):
        # (request_timeout as an instance may hold it, seconds computed by hand: 24 t + 290)
        cases = [
            ({}, 24 * 60 + 290),                            # the default request_timeout, 60
            ({'request_timeout': '60'}, 1730),
            ({'request_timeout': '1'}, 314),
            ({'request_timeout': ' 5 '}, 410),
            ({'request_timeout': '600'}, 14690),
            ({'request_timeout': '0'}, 314),                # below 1: the binary refuses it; 1 here
            ({'request_timeout': '3600'}, 14690),           # above 600: likewise, 600 here
            ({'request_timeout': 'soon'}, 1730),            # unreadable: the default
        ]
        self.assertEqual(self.process_timeouts([params for params, _ in cases]), [seconds for _, seconds in cases])

    def test_the_documents_state_the_same_formula(self):
        for document in (os.path.join('docs', 'xsoar.md'), os.path.join('docs', 'protocol.md')):
            with open(os.path.join(REPO, document)) as f:
                text = ' '.join(f.read().split())
            self.assertIn('`24 × request_timeout + 290`', text, document)
            self.assertNotIn('9 × request_timeout + 120', text, document)


class LongLivedEmulator(BridgeCase):
    """The class's emulator serves for minutes, with pauses between commands as a person makes."""

    def test_a_command_after_15_idle_seconds_is_answered(self):
        self.assertEqual(self.bridge('test-module', params=self.secret_params())['results'], ['ok'])
        time.sleep(15)  # longer than any idle timeout of a connection or of the listening socket
        outcome = self.bridge('test-module', params=self.secret_params())
        self.assertNoTraceback(outcome)
        self.assertEqual(outcome['results'], ['ok'], outcome['results'])


if __name__ == '__main__':
    unittest.main()

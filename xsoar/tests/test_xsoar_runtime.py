"""Tests of the XSOAR runtime stand-ins in xsoar/tests/xsoar_runtime (demistomock, CommonServerPython).

Each test writes a small script and a state file to a temporary directory and runs the script
as the bridge is run: a fresh ``python3`` with PYTHONPATH on the stand-ins and
DEMISTOMOCK_STATE on the state file. Standard library only:

    python3 -m unittest discover -s xsoar/tests -p 'test_xsoar_runtime.py'
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

RUNTIME = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'xsoar_runtime')

PRELUDE = """\
import demistomock as demisto
from CommonServerPython import *
"""


class RuntimeTest(unittest.TestCase):

    def setUp(self):
        self._dir = tempfile.TemporaryDirectory()
        self.dir = self._dir.name

    def tearDown(self):
        self._dir.cleanup()

    def run_script(self, body, state, env_state=True):
        """Runs PRELUDE + body; returns (completed process, the state file's outcome or None)."""
        script = os.path.join(self.dir, 'script.py')
        with open(script, 'w') as f:
            f.write(PRELUDE + textwrap.dedent(body))
        state_path = os.path.join(self.dir, 'state.json')
        with open(state_path, 'w') as f:
            json.dump(state, f)
        env = {key: value for key, value in os.environ.items() if key != 'DEMISTOMOCK_STATE'}
        env['PYTHONPATH'] = RUNTIME
        env['PYTHONDONTWRITEBYTECODE'] = '1'
        if env_state:
            env['DEMISTOMOCK_STATE'] = state_path
        proc = subprocess.run([sys.executable, script], env=env, cwd=self.dir,
                              capture_output=True, text=True, timeout=60)
        with open(state_path) as f:
            written = json.load(f)
        return proc, written.get('outcome')

    def base_state(self, **overrides):
        state = {
            'command': 'some-command',
            'args': {'user': 'alice', 'limit': '5'},
            'params': {'tenant_id': 't1', 'credentials': {'identifier': 'id', 'password': 'pw'}},
            'integration_context': {'context': {'token': 'abc'}, 'version': 3},
            'last_run': {'cursor': 'c1'},
            'demisto_version': '6.10.0',
        }
        state.update(overrides)
        return state

    # ---- inputs and recording -----------------------------------------------------------------

    def test_inputs_come_from_the_state_file(self):
        proc, outcome = self.run_script("""
            demisto.results({'command': demisto.command(), 'args': demisto.args(), 'params': demisto.params(),
                             'last_run': demisto.getLastRun(), 'ctx': demisto.getIntegrationContextVersioned(True),
                             'version': demisto.demistoVersion()['version'],
                             'calling_params': demisto.callingContext['params']})
            demisto.debug('one %s', 'two')
            demisto.info('note')
            demisto.error('bad')
        """, self.base_state())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        seen = outcome['results'][0]
        self.assertEqual(seen['command'], 'some-command')
        self.assertEqual(seen['args'], {'user': 'alice', 'limit': '5'})
        self.assertEqual(seen['params']['credentials'], {'identifier': 'id', 'password': 'pw'})
        self.assertEqual(seen['calling_params'], seen['params'])
        self.assertEqual(seen['last_run'], {'cursor': 'c1'})
        self.assertEqual(seen['ctx'], {'context': {'token': 'abc'}, 'version': 3})
        self.assertEqual(seen['version'], '6.10.0')
        self.assertEqual(outcome['debug'], ['one two'])
        self.assertEqual(outcome['info'], ['note'])
        self.assertEqual(outcome['errors'], ['bad'])
        self.assertIsNone(outcome['incidents'])
        self.assertIsNone(outcome['last_run_set'])
        self.assertIsNone(outcome['exception'])
        self.assertEqual(outcome['set_context_calls'], 0)
        self.assertEqual(outcome['integration_context'], {'context': {'token': 'abc'}, 'version': 3})

    def test_results_lists_are_flattened_and_fetch_outputs_recorded(self):
        proc, outcome = self.run_script("""
            demisto.results('ok')
            demisto.results([{'Type': 1, 'Contents': 'a', 'ContentsFormat': 'text'}, 'b'])
            demisto.incidents([{'name': 'one'}])
            demisto.incidents([{'name': 'two'}])
            demisto.setLastRun({'cursor': 'c2'})
        """, self.base_state(command='fetch-incidents'))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(outcome['results'], ['ok', {'Type': 1, 'Contents': 'a', 'ContentsFormat': 'text'}, 'b'])
        self.assertEqual(outcome['incidents'], [{'name': 'one'}, {'name': 'two'}])
        self.assertEqual(outcome['last_run_set'], {'cursor': 'c2'})
        self.assertEqual(outcome['calls'][-3:], ['incidents', 'incidents', 'setLastRun'])

    def test_returned_state_is_a_copy(self):
        proc, outcome = self.run_script("""
            got = demisto.getIntegrationContextVersioned(True)
            got['context']['token'] = 'changed in place'
            demisto.getLastRun()['cursor'] = 'changed in place'
            demisto.results(demisto.getLastRun())
        """, self.base_state())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(outcome['results'], [{'cursor': 'c1'}])
        self.assertEqual(outcome['integration_context']['context'], {'token': 'abc'})

    def test_missing_state_variable_is_a_clear_error(self):
        proc, outcome = self.run_script("demisto.results('never')\n", self.base_state(), env_state=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn('DEMISTOMOCK_STATE', proc.stderr)
        self.assertIsNone(outcome)

    # ---- integration context ------------------------------------------------------------------

    def test_set_with_current_version_stores_and_bumps(self):
        proc, outcome = self.run_script("""
            got = demisto.getIntegrationContextVersioned(True)
            demisto.setIntegrationContextVersioned({'token': 'new'}, got['version'], True)
        """, self.base_state())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(outcome['integration_context'], {'context': {'token': 'new'}, 'version': 4})
        self.assertEqual(outcome['set_context_calls'], 1)
        self.assertEqual(outcome['context_conflicts'], 0)

    def test_concurrent_write_after_read_makes_the_set_conflict(self):
        proc, outcome = self.run_script("""
            got = demisto.getIntegrationContextVersioned(True)
            try:
                demisto.setIntegrationContextVersioned({'token': 'mine'}, got['version'], True)
                demisto.results('no conflict')
            except ValueError:
                demisto.results('conflict at version %d' % got['version'])
            fresh = demisto.getIntegrationContextVersioned(True)
            merged = dict(fresh['context'], token='mine')
            demisto.setIntegrationContextVersioned(merged, fresh['version'], True)
            demisto.results(fresh)
        """, self.base_state(concurrent_writes=[{'other': 'theirs'}]))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(outcome['results'][0], 'conflict at version 3')
        self.assertEqual(outcome['results'][1], {'context': {'token': 'abc', 'other': 'theirs'}, 'version': 4})
        self.assertEqual(outcome['integration_context'],
                         {'context': {'token': 'mine', 'other': 'theirs'}, 'version': 5})
        self.assertEqual(outcome['set_context_calls'], 2)
        self.assertEqual(outcome['context_conflicts'], 1)

    def test_version_minus_one_writes_without_a_check(self):
        proc, outcome = self.run_script("""
            demisto.getIntegrationContextVersioned(True)
            demisto.setIntegrationContextVersioned({'token': 'forced'}, -1, True)
        """, self.base_state(concurrent_writes=[{'other': 'theirs'}]))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(outcome['integration_context'], {'context': {'token': 'forced'}, 'version': 5})
        self.assertEqual(outcome['context_conflicts'], 0)

    def test_get_versioned_has_the_real_parameter_name(self):
        proc, outcome = self.run_script("""
            demisto.getIntegrationContextVersioned(refresh=True)
            demisto.getIntegrationContextVersioned(sync=True)
        """, self.base_state())
        self.assertNotEqual(proc.returncode, 0)
        self.assertEqual(outcome['exception']['type'], 'TypeError')
        self.assertIn('sync', outcome['exception']['message'])

    def test_set_with_retries_succeeds_after_one_conflict(self):
        proc, outcome = self.run_script("""
            set_to_integration_context_with_retries({'cursor': {'page': 2}})
        """, self.base_state(concurrent_writes=[{'other': 'theirs'}]))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(outcome['set_context_calls'], 2)
        self.assertEqual(outcome['context_conflicts'], 1)
        # The real helper stores every value JSON-encoded.
        self.assertEqual(outcome['integration_context'],
                         {'context': {'token': 'abc', 'other': 'theirs', 'cursor': '{"page": 2}'}, 'version': 5})

    def test_set_with_retries_gives_up_after_three_conflicts(self):
        proc, outcome = self.run_script("""
            set_to_integration_context_with_retries({'cursor': 1})
        """, self.base_state(concurrent_writes=[{'w': 1}, {'w': 2}, {'w': 3}]))
        self.assertNotEqual(proc.returncode, 0)
        self.assertEqual(outcome['exception']['type'], 'Exception')
        self.assertIn('Max retry attempts exceeded', outcome['exception']['message'])
        self.assertEqual(outcome['set_context_calls'], 3)
        self.assertEqual(outcome['context_conflicts'], 3)
        self.assertEqual(outcome['integration_context']['version'], 6)

    # ---- return_error -------------------------------------------------------------------------

    def test_return_error_writes_an_error_entry_and_exits_zero(self):
        proc, outcome = self.run_script("""
            return_error('it broke', error='details')
            demisto.results('not reached')
        """, self.base_state())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(outcome['results'], [
            {'Type': 4, 'ContentsFormat': 'text', 'Contents': 'it broke', 'EntryContext': None}])
        self.assertIsNone(outcome['exception'])

    def test_return_error_raises_under_fetch_incidents(self):
        proc, outcome = self.run_script("""
            return_error('fetch broke')
        """, self.base_state(command='fetch-incidents'))
        self.assertNotEqual(proc.returncode, 0)
        self.assertEqual(outcome['results'], [])
        self.assertEqual(outcome['exception'], {'type': 'Exception', 'message': 'fetch broke'})
        self.assertIsNone(outcome['last_run_set'])

    def test_uncaught_exception_is_recorded(self):
        proc, outcome = self.run_script("""
            def main():
                demisto.results('partial')
                raise KeyError('missing')

            if __name__ in ('__main__', '__builtin__', 'builtins'):
                main()
        """, self.base_state())
        self.assertEqual(proc.returncode, 1)
        self.assertIn('Traceback', proc.stderr)
        self.assertEqual(outcome['exception'], {'type': 'KeyError', 'message': "'missing'"})
        self.assertEqual(outcome['results'], ['partial'])

    # ---- polling and versions -----------------------------------------------------------------

    def test_scheduled_command_results(self):
        proc, outcome = self.run_script("""
            demisto.results(ScheduledCommand.supports_polling())
            demisto.results(ScheduledCommand('cmd', 30, args={'id': '1'}, timeout_in_seconds=600).to_results())
            demisto.results(ScheduledCommand('cmd', 3).to_results())
            entry = CommandResults(readable_output='waiting', raw_response={'a': 1},
                                   scheduled_command=ScheduledCommand('cmd', 15, args={'id': '1'})).to_context()
            demisto.results(entry)
        """, self.base_state())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        supported, full, minimum, entry = outcome['results']
        self.assertIs(supported, True)
        self.assertEqual(full, {'PollingCommand': 'cmd', 'NextRun': '30', 'PollingArgs': {'id': '1'},
                                'Timeout': '600', 'PollingItemsRemaining': 0})
        self.assertEqual(minimum, {'PollingCommand': 'cmd', 'NextRun': '10', 'PollingItemsRemaining': 0})
        self.assertEqual(entry['Type'], 1)
        self.assertEqual(entry['HumanReadable'], 'waiting')
        self.assertEqual(entry['ContentsFormat'], 'json')
        self.assertEqual(entry['PollingCommand'], 'cmd')
        self.assertEqual(entry['NextRun'], '15')

    def test_scheduled_command_needs_6_2(self):
        proc, outcome = self.run_script("""
            demisto.results(ScheduledCommand.supports_polling())
            demisto.results(is_demisto_version_ge('6.0.0'))
            ScheduledCommand('cmd', 30)
        """, self.base_state(demisto_version='6.1.0'))
        self.assertNotEqual(proc.returncode, 0)
        self.assertEqual(outcome['results'], [False, True])
        self.assertEqual(outcome['exception']['type'], 'DemistoException')
        self.assertIn('6.2.0', outcome['exception']['message'])

    def test_version_compare_is_numeric_per_part(self):
        proc, outcome = self.run_script("""
            demisto.results([is_demisto_version_ge('6.2.0'), is_demisto_version_ge('6.11.0'),
                             is_demisto_version_ge('6.10.0', '12345'), is_demisto_version_ge('6.10.0', '99999')])
        """, self.base_state(demisto_version='6.10.0'))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(outcome['results'], [True, False, True, False])

    def test_command_results_and_return_results(self):
        proc, outcome = self.run_script("""
            return_results(CommandResults(outputs_prefix='X.Y', outputs_key_field='id', outputs=[{'id': 1}],
                                          readable_output='md'))
            return_results([CommandResults(readable_output='text only', entry_type=EntryType.WARNING,
                                           content_format=EntryFormat.MARKDOWN), 'plain'])
        """, self.base_state())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        first, second, third = outcome['results']
        self.assertEqual(first['EntryContext'], {'X.Y(val.id && val.id == obj.id)': [{'id': 1}]})
        self.assertEqual(first['Contents'], [{'id': 1}])
        self.assertEqual(first['HumanReadable'], 'md')
        self.assertEqual(second['Type'], 11)
        self.assertEqual(second['ContentsFormat'], 'markdown')
        self.assertIsNone(second['Contents'])
        self.assertEqual(third, 'plain')

    def test_integration_instance_comes_from_the_state_file(self):
        proc, outcome = self.run_script("""
            demisto.results(demisto.integrationInstance())
        """, self.base_state(instance='Entra ID (prod)'))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(outcome['results'], ['Entra ID (prod)'])
        self.assertIn('integrationInstance', outcome['calls'])
        proc, outcome = self.run_script("demisto.results(demisto.integrationInstance())\n", self.base_state())
        self.assertEqual(outcome['results'], ['test-instance'])

    # ---- mirroring ----------------------------------------------------------------------------

    def test_mirroring_args_read_the_servers_names(self):
        proc, outcome = self.run_script("""
            args = demisto.args()
            remote = GetRemoteDataArgs(args)
            modified = GetModifiedRemoteDataArgs(args)
            update = UpdateRemoteSystemArgs(args)
            demisto.results([remote.remote_incident_id, remote.last_update, modified.last_update,
                             update.data, update.entries, update.incident_changed, update.remote_incident_id,
                             update.inc_status == IncidentStatus.DONE, update.delta])
            demisto.results([IncidentStatus.PENDING, IncidentStatus.ACTIVE, IncidentStatus.ARCHIVE])
            demisto.results(UpdateRemoteSystemArgs({}).data)
            GetRemoteDataArgs({'id': 'only-an-id'})
        """, self.base_state(args={
            'id': 'det-1', 'lastUpdate': '2024-06-01T10:00:00+00:00', 'data': {'closeReason': 'Resolved'},
            'entries': [{'id': 'e1'}], 'incidentChanged': True, 'remoteId': 'det-1', 'status': 2,
            'delta': {'closeReason': 'Resolved'}}))
        self.assertNotEqual(proc.returncode, 0)
        # The real GetRemoteDataArgs indexes lastUpdate: a missing one is a KeyError.
        self.assertEqual(outcome['exception'], {'type': 'KeyError', 'message': "'lastUpdate'"})
        self.assertEqual(outcome['results'], [
            'det-1', '2024-06-01T10:00:00+00:00', '2024-06-01T10:00:00+00:00', {'closeReason': 'Resolved'},
            [{'id': 'e1'}], True, 'det-1', True, {'closeReason': 'Resolved'},
            0, 1, 3, None])

    def test_return_results_answers_each_mirroring_type(self):
        proc, outcome = self.run_script("""
            close = {'Type': 1, 'ContentsFormat': 'json', 'Contents': {'dbotIncidentClose': True}}
            return_results(GetRemoteDataResponse({'id': 'det-1', 'riskState': 'dismissed'}, [close]))
            return_results(GetModifiedRemoteDataResponse(['det-1', 'det-2']))
            scheme = SchemeTypeMapping(type_name='Type A')
            scheme.add_field('closeReason', 'why')
            scheme.add_field('closeNotes')
            response = GetMappingFieldsResponse([scheme])
            response.add_scheme_type(SchemeTypeMapping('Type B', {'closeNotes': 'notes'}))
            return_results(response)
            return_results('det-1')
        """, self.base_state())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(outcome['results'], [
            {'id': 'det-1', 'riskState': 'dismissed'},
            {'Type': 1, 'ContentsFormat': 'json', 'Contents': {'dbotIncidentClose': True}},
            {'Contents': ['det-1', 'det-2'], 'Type': 1, 'ContentsFormat': 'json'},
            {'Type A': {'closeReason': 'why', 'closeNotes': ''}, 'Type B': {'closeNotes': 'notes'}},
            'det-1'])
        self.assertEqual(outcome['info'], ["Modified incidents: ['det-1', 'det-2']"])

    def test_an_empty_mirrored_object_loses_the_entries(self):
        proc, outcome = self.run_script("""
            demisto.results(GetRemoteDataResponse({}, [{'Type': 1}]).extract_for_local())
            return_results(GetRemoteDataResponse({}, [{'Type': 1}]))
        """, self.base_state())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(outcome['results'], [None, None])

    def test_return_error_under_get_modified_remote_data_says_skip_update(self):
        proc, outcome = self.run_script("""
            try:
                raise ValueError('Graph answered 429')
            except ValueError:
                return_error('Graph answered 429')
        """, self.base_state(command='get-modified-remote-data'))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(outcome['results'][0]['Contents'], 'skip update. error: Graph answered 429')

    def test_return_error_for_a_missing_get_modified_remote_data_does_not_skip(self):
        proc, outcome = self.run_script("""
            try:
                raise NotImplementedError('no such command')
            except NotImplementedError as e:
                return_error('no such command', error=e)
        """, self.base_state(command='get-modified-remote-data'))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(outcome['results'][0]['Contents'], 'no such command')

    def test_return_error_under_other_mirroring_commands_keeps_the_message(self):
        proc, outcome = self.run_script("""
            return_error('Graph refused the dismissal')
        """, self.base_state(command='update-remote-system'))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(outcome['results'], [
            {'Type': 4, 'ContentsFormat': 'text', 'Contents': 'Graph refused the dismissal', 'EntryContext': None}])


    # ---- scripts: the incident and running commands -------------------------------------------

    def script_state(self, **overrides):
        state = {'args': {'action': 'dismiss'},
                 'incident': {'id': '7', 'CustomFields': {'userid': 'u1'}, 'rawJSON': '{"id": "d1"}'}}
        state.update(overrides)
        return state

    def test_incident_is_the_states_incident_and_a_copy(self):
        proc, outcome = self.run_script("""
            demisto.incident()['CustomFields']['userid'] = 'changed in place'
            demisto.results([demisto.incident(), demisto.incidents()])
        """, self.script_state())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        incident = {'id': '7', 'CustomFields': {'userid': 'u1'}, 'rawJSON': '{"id": "d1"}'}
        self.assertEqual(outcome['results'], [incident, [incident]])

    def test_incident_without_one_is_an_index_error(self):
        proc, outcome = self.run_script("""
            demisto.results(demisto.incidents())
            demisto.incident()
        """, self.base_state())
        self.assertEqual(outcome['results'], [])  # an empty list flattens to nothing
        self.assertEqual(outcome['exception']['type'], 'IndexError')

    def test_execute_command_returns_the_single_entrys_contents(self):
        entries = [{'Type': 16, 'ContentsFormat': 'text', 'Contents': 'debug line'},
                   {'Type': 1, 'ContentsFormat': 'json', 'Contents': {'userIds': ['u1']}}]
        proc, outcome = self.run_script("""
            demisto.results([execute_command('some-command', {'user_ids': 'u1'})])
            demisto.results([execute_command('some-command', {'user_ids': 'u1'}, fail_on_error=False)])
            demisto.results([execute_command('some-command', {}, extract_contents=False)])
        """, self.script_state(command_results={'some-command': entries}))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(outcome['results'], [{'userIds': ['u1']}, [True, {'userIds': ['u1']}], entries])
        self.assertEqual(outcome['executed_commands'], [
            {'command': 'some-command', 'args': {'user_ids': 'u1'}},
            {'command': 'some-command', 'args': {'user_ids': 'u1'}},
            {'command': 'some-command', 'args': {}}])

    def test_execute_command_returns_several_contents_as_a_list(self):
        entries = [{'Type': 1, 'ContentsFormat': 'text', 'Contents': 'one'},
                   {'Type': 1, 'ContentsFormat': 'text', 'Contents': 'two'}]
        proc, outcome = self.run_script("""
            demisto.results([execute_command('some-command', {})])
        """, self.script_state(command_results={'some-command': entries}))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(outcome['results'], [['one', 'two']])

    def test_execute_command_raises_on_an_error_entry(self):
        entries = [{'Type': 1, 'ContentsFormat': 'text', 'Contents': 'fine'},
                   {'Type': 4, 'ContentsFormat': 'text', 'Contents': 'Graph said no'},
                   {'Type': 4, 'ContentsFormat': 'text', 'Contents': 'and again'}]
        proc, outcome = self.run_script("""
            demisto.results([execute_command('some-command', {}, fail_on_error=False)])
            try:
                execute_command('some-command', {})
            except DemistoException as e:
                demisto.results(str(e))
        """, self.script_state(command_results={'some-command': entries}))
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(outcome['results'], [
            [False, 'Graph said no\nand again'],
            'Failed to execute some-command. Error details:\nGraph said no\nand again'])

    def test_is_error_and_get_error(self):
        proc, outcome = self.run_script("""
            error = {'Type': 4, 'ContentsFormat': 'text', 'Contents': 'bad'}
            note = {'Type': 1, 'ContentsFormat': 'text', 'Contents': 'good'}
            demisto.results([[is_error(error), is_error([note, error]), is_error([note]), is_error(None),
                              isError(error), get_error(error), get_error([note, error])]])
            get_error([note])
        """, self.script_state())
        self.assertEqual(outcome['results'], [[True, True, False, False, True, 'bad', 'bad']])
        self.assertEqual(outcome['exception']['type'], 'ValueError')

    def test_a_command_without_an_answer_is_a_value_error(self):
        proc, outcome = self.run_script("""
            demisto.executeCommand('not-given', {'a': 1})
        """, self.script_state())
        self.assertNotEqual(proc.returncode, 0)
        self.assertEqual(outcome['exception']['type'], 'ValueError')
        self.assertIn('not-given', outcome['exception']['message'])
        self.assertEqual(outcome['executed_commands'], [{'command': 'not-given', 'args': {'a': 1}}])


if __name__ == '__main__':
    unittest.main()

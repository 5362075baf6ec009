"""Stand-in for XSOAR's ``CommonServerPython``, for running an integration script in tests.

Written for this project from the public source of demisto/content
(``Packs/Base/Scripts/CommonServerPython/CommonServerPython.py``); it is not XSOAR code. It
covers only what an integration of this project uses, with the real names, signatures and
defaults:

``EntryType``, ``EntryFormat``, ``IncidentStatus``, ``entryTypes``, ``formats``,
``DemistoException``, ``is_demisto_version_ge``, ``get_demisto_version``, ``assign_params``,
``return_error``, ``return_results``, ``CommandResults``, ``ScheduledCommand``, the mirroring
types ``GetRemoteDataArgs``, ``GetRemoteDataResponse``, ``GetModifiedRemoteDataArgs``,
``GetModifiedRemoteDataResponse``, ``UpdateRemoteSystemArgs``, ``SchemeTypeMapping`` and
``GetMappingFieldsResponse``, ``get_integration_context``,
``set_integration_context``, ``is_versioned_context_available``,
``get_integration_context_with_version``, ``update_integration_context``, ``merge_lists``,
``set_to_integration_context_with_retries``, ``register_module_line`` and ``__line__`` (which
the unified script calls); for the pack's automation scripts ``is_error`` (alias ``isError``),
``get_error`` and ``execute_command``.

Like the real module it imports ``demistomock as demisto``, copies ``demisto.params()`` into
``demisto.callingContext['params']`` at import, and leaves the usual standard-library names
(``json``, ``os``, ``re``, ``sys``, ``time``, ``datetime`` ...) importable through
``from CommonServerPython import *``; it does not import ``requests`` or ``dateparser``.

Semantics kept from the real one:

* ``return_error`` writes one ``Type: 4`` text entry (message cut in the middle past 50,000
  characters) and calls ``sys.exit(0)``; under fetch-incidents, fetch-credentials,
  long-running-execution and fetch-indicators it raises ``Exception(message)`` instead, so the
  server records the failure. Under get-modified-remote-data it puts ``skip update. error: ``
  before the message (the server's cue to skip this mirroring cycle), unless the error being
  handled is a ``NotImplementedError`` (the integration has no such command).
* The mirroring types parse and answer as the real ones: the ``*Args`` classes read the
  server's argument names (``GetRemoteDataArgs`` and ``GetModifiedRemoteDataArgs`` index
  ``args`` and so raise KeyError when one is missing; ``UpdateRemoteSystemArgs`` uses ``get``);
  ``GetRemoteDataResponse.extract_for_local()`` is ``[mirrored_object] + entries`` only when the
  object is truthy, else None (the entries are lost too);
  ``GetModifiedRemoteDataResponse.to_entry()`` is a ``Type: 1`` JSON entry whose ``Contents`` is
  the id list (and logs the ids with ``demisto.info``); ``extract_mapping()`` is
  ``{type_name: {field: description}}``, merged over all schemes. ``return_results`` hands each
  to ``demisto.results`` through exactly that method.
* ``ScheduledCommand`` raises ``NextRun`` below 10 s to 10, keeps ``NextRun`` and ``Timeout``
  as strings and drops empty keys from ``to_results()`` (``PollingItemsRemaining`` 0 stays).
  Its constructor raises ``DemistoException(VERSION_MISMATCH_ERROR)`` and ``supports_polling()``
  answers False below server 6.2.0, as the 6.x-era CommonServerPython did (the newest one
  answers True unconditionally).
* ``is_demisto_version_ge`` compares zero-filled version parts, so 6.10 > 6.2.
* ``execute_command(command, args, extract_contents=True, fail_on_error=True)`` runs
  ``demisto.executeCommand``; when an answer holds a ``Type: 4`` entry it raises
  ``DemistoException('Failed to execute <command>. Error details:\n<error texts>')`` (the texts
  of all error entries, one a line), or with ``fail_on_error=False`` returns
  ``(False, texts)``. Otherwise it returns the entries as they came (``extract_contents=False``)
  or their ``Contents`` (``Type: 16`` debug entries left out), one entry's Contents alone and
  several as a list; with ``fail_on_error=False`` as ``(True, value)``. ``is_error`` is true of
  an error entry or of a list holding one; ``get_error`` raises ValueError without one.
* ``set_to_integration_context_with_retries`` stores each value JSON-encoded, as the real
  ``update_integration_context`` does, and gives up after ``max_retry_times`` conflicts.

Deliberate differences: ``CommandResults`` does not support indicators, relationships,
timelines or execution metrics (NotImplementedError), and its default HumanReadable for
outputs without ``readable_output`` is a plain table, not ``tableToMarkdown``'s; the error
entry's message is logged with ``demisto.error`` (the real one logs through its LOG buffer);
``return_results`` treats every run as an integration command.
"""

import base64  # noqa: F401  (names the real module makes available through import *)
import json
import logging  # noqa: F401
import os  # noqa: F401
import re  # noqa: F401
import sys
import time
import traceback  # noqa: F401
from collections import OrderedDict  # noqa: F401
from datetime import datetime, timedelta  # noqa: F401
from random import randint
from typing import Any, Dict, List, Optional, Union  # noqa: F401

import demistomock as demisto

demisto.callingContext['params'] = demisto.params()

STRING_TYPES = (str, bytes)
MAX_ERROR_MESSAGE_LENGTH = 50000
CONTEXT_UPDATE_RETRY_TIMES = 3
MIN_VERSION_FOR_VERSIONED_CONTEXT = '6.0.0'

entryTypes = {'note': 1, 'downloadAgent': 2, 'file': 3, 'error': 4, 'pinned': 5, 'userManagement': 6,
              'image': 7, 'playgroundError': 8, 'entryInfoFile': 9, 'warning': 11, 'map': 15,
              'debug': 16, 'widget': 17}
formats = {'html': 'html', 'table': 'table', 'json': 'json', 'text': 'text',
           'dbotResponse': 'dbotCommandResponse', 'markdown': 'markdown'}


def __line__():
    """The caller's line number; the unified script passes it to register_module_line."""
    return sys._getframe(1).f_lineno


def register_module_line(module_name, start_end, line, wrapper=0):
    """The real one maps lines of the script the server concatenates (this module + the
    integration) back to their module for error messages; here it only checks its arguments."""
    if start_end not in ('start', 'end'):
        raise ValueError('Invalid start_end argument. Acceptable values are: start, end.')
    if not isinstance(line, int) or line < 0:
        raise ValueError('Invalid line argument. Expected non-negative integer.')


class EntryType(object):
    NOTE = 1
    DOWNLOAD_AGENT = 2
    FILE = 3
    ERROR = 4
    PINNED = 5
    USER_MANAGEMENT = 6
    IMAGE = 7
    PLAYGROUND_ERROR = 8
    ENTRY_INFO_FILE = 9
    VIDEO_FILE = 10
    WARNING = 11
    STATIC_VIDEO_FILE = 12
    MAP_ENTRY_TYPE = 15
    WIDGET = 17
    EXECUTION_METRICS = 19


class IncidentStatus(object):
    PENDING = 0
    ACTIVE = 1
    DONE = 2
    ARCHIVE = 3


class EntryFormat(object):
    HTML = 'html'
    TABLE = 'table'
    JSON = 'json'
    TEXT = 'text'
    DBOT_RESPONSE = 'dbotCommandResponse'
    MARKDOWN = 'markdown'

    @classmethod
    def is_valid_type(cls, _type):
        return _type in (cls.HTML, cls.TABLE, cls.JSON, cls.TEXT, cls.MARKDOWN, cls.DBOT_RESPONSE)


class DemistoException(Exception):
    def __init__(self, message, exception=None, res=None, error_type=None, *args):
        self.res = res
        self.message = message
        self.exception = exception
        self.error_type = error_type
        super(DemistoException, self).__init__(message, exception, error_type, *args)

    def __str__(self):
        return str(self.message)


# ---- server version ---------------------------------------------------------------------------

_demisto_version = None


def get_demisto_version():
    """The server's version object, asked once per process (the real one caches it too)."""
    global _demisto_version
    if _demisto_version is None:
        _demisto_version = demisto.demistoVersion()
    return _demisto_version


def is_demisto_version_ge(version, build_number=''):
    def parts(v):
        return tuple(part.zfill(8) for part in v.split('.'))

    server = get_demisto_version()
    try:
        server_parts, wanted = parts(server.get('version')), parts(version)
        if server_parts != wanted:
            return server_parts > wanted
        if build_number:
            return int(server.get('buildNumber')) >= int(build_number)
        return True
    except ValueError:  # a development build number: not comparable, treated as new enough
        return True


def assign_params(keys_to_ignore=None, values_to_ignore=None, **kwargs):
    if values_to_ignore is None:
        values_to_ignore = (None, '', [], {}, ())
    if keys_to_ignore is None:
        keys_to_ignore = ()
    return {key: value for key, value in kwargs.items()
            if value not in values_to_ignore and key not in keys_to_ignore}


# ---- errors -----------------------------------------------------------------------------------

_SERVER_HANDLED_COMMANDS = ('fetch-incidents', 'fetch-credentials', 'long-running-execution', 'fetch-indicators')


def return_error(message, error='', outputs=None):
    try:
        command = demisto.command()
    except Exception:
        command = None
    server_handled = command in _SERVER_HANDLED_COMMANDS
    message = message if isinstance(message, str) else str(message)
    demisto.error(message)
    if error:
        demisto.error(str(error))
    if command == 'get-modified-remote-data':
        # The real condition, kept as it is: outside an except block exc_info is (None, ...).
        if (error and not isinstance(error, NotImplementedError)) or sys.exc_info()[0] != NotImplementedError:
            message = 'skip update. error: ' + message
    if server_handled:
        raise Exception(message)
    if len(message) > MAX_ERROR_MESSAGE_LENGTH:
        half = MAX_ERROR_MESSAGE_LENGTH // 2
        message = message[:half] + '...This error body was truncated...' + message[-half:]
    demisto.results({
        'Type': entryTypes['error'],
        'ContentsFormat': formats['text'],
        'Contents': message,
        'EntryContext': outputs,
    })
    sys.exit(0)


# ---- scripts: running commands ----------------------------------------------------------------

def is_error(execute_command_result):
    if execute_command_result is None:
        return False
    if isinstance(execute_command_result, list):
        return any(isinstance(entry, dict) and entry['Type'] == entryTypes['error']
                   for entry in execute_command_result)
    return isinstance(execute_command_result, dict) and execute_command_result['Type'] == entryTypes['error']


isError = is_error


def get_error(execute_command_result):
    if not is_error(execute_command_result):
        raise ValueError('execute_command_result has no error entry. before using get_error use is_error')
    if isinstance(execute_command_result, dict):
        return execute_command_result['Contents']
    return '\n'.join(entry['Contents'] for entry in execute_command_result
                     if isinstance(entry, dict) and entry['Type'] == entryTypes['error'])


def execute_command(command, args, extract_contents=True, fail_on_error=True):
    if not hasattr(demisto, 'executeCommand'):
        raise DemistoException('Cannot run demisto.executeCommand() from integrations.')
    answer = demisto.executeCommand(command, args)
    if is_error(answer):
        details = get_error(answer)
        if fail_on_error:
            raise DemistoException('Failed to execute {}. Error details:\n{}'.format(command, details))
        return False, details
    if extract_contents:
        contents = [entry.get('Contents', {}) for entry in answer if entry['Type'] != entryTypes['debug']]
        answer = contents[0] if len(contents) == 1 else contents
    return answer if fail_on_error else (True, answer)


# ---- results ----------------------------------------------------------------------------------

class ScheduledCommand:
    VERSION_MISMATCH_ERROR = ('This command is not supported by this XSOAR server version. Please update your '
                              'server version to 6.2.0 or later.')

    def __init__(self, command, next_run_in_seconds, args=None, timeout_in_seconds=None, items_remaining=0):
        self.raise_error_if_not_supported()
        self._command = command
        if next_run_in_seconds < 10:
            demisto.info('ScheduledCommand: next_run_in_seconds {} is below the 10 s minimum; '
                         'using 10.'.format(next_run_in_seconds))
            next_run_in_seconds = 10
        self._next_run = str(next_run_in_seconds)
        self._args = args
        self._timeout = str(timeout_in_seconds) if timeout_in_seconds else None
        self._items_remaining = items_remaining

    @staticmethod
    def raise_error_if_not_supported():
        if not is_demisto_version_ge('6.2.0'):
            raise DemistoException(ScheduledCommand.VERSION_MISMATCH_ERROR)

    @staticmethod
    def supports_polling():
        return is_demisto_version_ge('6.2.0')

    def to_results(self):
        return assign_params(PollingCommand=self._command, NextRun=self._next_run, PollingArgs=self._args,
                             Timeout=self._timeout, PollingItemsRemaining=self._items_remaining)


def _plain_table(name, rows):
    rows = rows if isinstance(rows, list) else [rows]
    rows = [row if isinstance(row, dict) else {'Value': row} for row in rows]
    headers = []
    for row in rows:
        headers.extend(key for key in row if key not in headers)
    lines = ['### ' + name, '|' + '|'.join(headers) + '|', '|' + '|'.join('---' for _ in headers) + '|']
    lines.extend('|' + '|'.join(str(row.get(h, '')) for h in headers) + '|' for row in rows)
    return '\n'.join(lines) + '\n'


class CommandResults:
    def __init__(self, outputs_prefix=None, outputs_key_field=None, outputs=None, indicators=None,
                 readable_output=None, raw_response=None, indicators_timeline=None, indicator=None,
                 ignore_auto_extract=False, mark_as_note=False, tags=None, scheduled_command=None,
                 relationships=None, entry_type=None, content_format=None, execution_metrics=None,
                 replace_existing=False):
        if indicators or indicator or indicators_timeline or relationships or execution_metrics:
            raise NotImplementedError('the CommonServerPython stand-in does not support indicators, '
                                      'timelines, relationships or execution metrics')
        if raw_response is None:
            raw_response = outputs
        if outputs is not None:
            if not isinstance(outputs, dict) and not outputs_prefix:
                raise ValueError('outputs_prefix is missing')
            if outputs_prefix == '.':
                raise ValueError('outputs_prefix cannot be a period.')
        if content_format is not None and not EntryFormat.is_valid_type(content_format):
            raise TypeError('content_format {} is invalid, see CommonServerPython.EntryFormat'.format(content_format))
        if not outputs_key_field:
            self._outputs_key_field = None
        elif isinstance(outputs_key_field, STRING_TYPES):
            self._outputs_key_field = [outputs_key_field]
        elif isinstance(outputs_key_field, list):
            self._outputs_key_field = outputs_key_field
        else:
            raise TypeError('outputs_key_field must be of type str or list')
        self.outputs_prefix = outputs_prefix
        self.outputs_key_field = outputs_key_field
        self.outputs = outputs
        self.raw_response = raw_response
        self.readable_output = readable_output
        self.ignore_auto_extract = ignore_auto_extract
        self.mark_as_note = mark_as_note
        self.tags = tags
        self.scheduled_command = scheduled_command
        self.entry_type = EntryType.NOTE if entry_type is None else entry_type
        self.content_format = content_format
        self.replace_existing = replace_existing

    def to_context(self):
        outputs = {}
        human_readable = self.readable_output or None
        if self.outputs is not None and self.outputs != []:
            if not self.readable_output:
                human_readable = (_plain_table('Results', self.outputs)
                                  if isinstance(self.outputs, (dict, list)) else self.outputs)
            if self.outputs_prefix and self.replace_existing:
                path, _, key = self.outputs_prefix.rpartition('.')
                if not path:
                    raise DemistoException('outputs_prefix must be a nested path to replace an existing key.')
                outputs[path + '(true)'] = {key: self.outputs}
            elif self.outputs_prefix and self._outputs_key_field:
                condition = ' && '.join('val.{0} && val.{0} == obj.{0}'.format(k) for k in self._outputs_key_field)
                outputs['{}({})'.format(self.outputs_prefix, condition)] = self.outputs
            elif self.outputs_prefix:
                outputs[str(self.outputs_prefix)] = self.outputs
            else:
                outputs.update(self.outputs)
        content_format = self.content_format
        if content_format is None:
            content_format = EntryFormat.TEXT if isinstance(self.raw_response, STRING_TYPES + (int,)) \
                else EntryFormat.JSON
        entry = {
            'Type': self.entry_type,
            'ContentsFormat': content_format,
            'Contents': self.raw_response,
            'HumanReadable': human_readable,
            'EntryContext': outputs,
            'IndicatorTimeline': [],
            'IgnoreAutoExtract': bool(self.ignore_auto_extract),
            'Note': bool(self.mark_as_note),
            'Relationships': [],
        }
        if self.tags:
            entry['Tags'] = self.tags
        if self.scheduled_command:
            entry.update(self.scheduled_command.to_results())
        return entry


def return_results(results):
    if results is None:
        demisto.results(None)
    elif results and isinstance(results, list):
        plain = []
        for result in results:
            if isinstance(result, (dict, str)):
                plain.append(result)
            else:
                return_results(result)
        if plain:
            demisto.results(plain)
    elif isinstance(results, CommandResults):
        demisto.results(results.to_context())
    elif isinstance(results, GetMappingFieldsResponse):
        demisto.results(results.extract_mapping())
    elif isinstance(results, GetRemoteDataResponse):
        demisto.results(results.extract_for_local())
    elif isinstance(results, GetModifiedRemoteDataResponse):
        demisto.results(results.to_entry())
    elif hasattr(results, 'to_entry'):
        demisto.results(results.to_entry())
    else:
        demisto.results(results)


# ---- mirroring --------------------------------------------------------------------------------

class GetRemoteDataArgs:
    """get-remote-data's arguments: the remote id (the incident's dbotMirrorId) and the last sync."""

    def __init__(self, args):
        self.remote_incident_id = args['id']
        self.last_update = args['lastUpdate']


class GetModifiedRemoteDataArgs:
    """get-modified-remote-data's argument: the time of the instance's last mirroring cycle."""

    def __init__(self, args):
        self.last_update = args['lastUpdate']


class UpdateRemoteSystemArgs:
    """update-remote-system's arguments, as objects (data, delta) and a list (entries)."""

    def __init__(self, args):
        self.data = args.get('data')
        self.entries = args.get('entries')
        self.incident_changed = args.get('incidentChanged')
        self.remote_incident_id = args.get('remoteId')
        self.inc_status = args.get('status')
        self.delta = args.get('delta')


class GetRemoteDataResponse:
    """The mirrored object (mapped like a fetched rawJSON) and entries for the incident."""

    def __init__(self, mirrored_object, entries):
        self.mirrored_object = mirrored_object
        self.entries = entries

    def extract_for_local(self):
        if self.mirrored_object:
            return [self.mirrored_object] + self.entries
        return None  # the real one falls off the end: an empty object loses the entries too


class GetModifiedRemoteDataResponse:
    """The remote ids changed since lastUpdate: get-remote-data then runs for these only."""

    def __init__(self, modified_incident_ids):
        self.modified_incident_ids = modified_incident_ids

    def to_entry(self):
        demisto.info('Modified incidents: {}'.format(self.modified_incident_ids))
        return {'Contents': self.modified_incident_ids, 'Type': EntryType.NOTE, 'ContentsFormat': EntryFormat.JSON}


class SchemeTypeMapping:
    """One remote incident type and the fields the outgoing mapper may write."""

    def __init__(self, type_name='', fields=None):
        self.type_name = type_name
        self.fields = fields if fields else {}

    def add_field(self, name, description=''):
        self.fields.update({name: description})

    def extract_mapping(self):
        return {self.type_name: self.fields}


class GetMappingFieldsResponse:
    """get-mapping-fields' answer: every scheme, for the mapper's "Select schema"."""

    def __init__(self, scheme_types_mapping=None):
        self.scheme_types_mappings = scheme_types_mapping if scheme_types_mapping else []

    def add_scheme_type(self, scheme_type_mapping):
        self.scheme_types_mappings.append(scheme_type_mapping)

    def extract_mapping(self):
        mapping = {}
        for scheme in self.scheme_types_mappings:
            mapping.update(scheme.extract_mapping())
        return mapping


# ---- integration context ----------------------------------------------------------------------

def is_versioned_context_available():
    return is_demisto_version_ge(MIN_VERSION_FOR_VERSIONED_CONTEXT)


def get_integration_context(sync=True, with_version=False):
    if not is_versioned_context_available():
        return demisto.getIntegrationContext()
    versioned = demisto.getIntegrationContextVersioned(sync)  # positional: the parameter is `refresh`
    return versioned if with_version else versioned.get('context', {})


def set_integration_context(context, sync=True, version=-1):
    if is_versioned_context_available():
        return demisto.setIntegrationContextVersioned(context, version, sync)
    return demisto.setIntegrationContext(context)


def get_integration_context_with_version(sync=True):
    latest = get_integration_context(sync, with_version=True)
    version = -1
    if is_versioned_context_available():
        context = latest.get('context', {})
        if sync:
            version = latest.get('version', 0)
    else:
        context = latest
    return context, version


def merge_lists(original_list, updated_list, key):
    merged = {element[key]: element for element in original_list}
    merged.update({element[key]: element for element in updated_list})
    return [obj for obj in merged.values() if obj.get('remove', False) is False]


def update_integration_context(context, object_keys=None, sync=True):
    integration_context, version = get_integration_context_with_version(sync)
    object_keys = object_keys or {}
    for key, updated in context.items():
        if key in object_keys:
            latest = json.loads(integration_context.get(key, '[]'))
            integration_context[key] = json.dumps(merge_lists(latest, updated, object_keys[key]))
        else:
            integration_context[key] = json.dumps(updated)
    return integration_context, version


def set_to_integration_context_with_retries(context, object_keys=None, sync=True,
                                            max_retry_times=CONTEXT_UPDATE_RETRY_TIMES):
    attempt = 0
    while True:
        if attempt == max_retry_times:
            raise Exception('Failed updating integration context. Max retry attempts exceeded.')
        integration_context, version = update_integration_context(context, object_keys, sync)
        attempt += 1
        try:
            set_integration_context(integration_context, sync, version)
            return
        except ValueError as e:
            demisto.debug('Failed updating integration context with version {}: {}'.format(version, e))
            time.sleep(randint(1, 100) / 1000)

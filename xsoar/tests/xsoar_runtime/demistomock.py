"""Stand-in for XSOAR's ``demistomock`` module, for running an integration script in tests.

Written for this project from the public documentation and source of demisto/content
(``Tests/demistomock/demistomock.py``, ``Packs/Base/Scripts/CommonServerPython``) and from the
public copies of the server-side ``Demisto`` wrapper that XSOAR's Python loop uses. It is not
XSOAR code. A test runs the script as XSOAR would, one fresh process per command (a unified
script through ``run_integration.py``, which places CommonServerPython before it)::

    PYTHONPATH=xsoar/tests/xsoar_runtime DEMISTOMOCK_STATE=/tmp/state.json \
        python3 xsoar/tests/xsoar_runtime/run_integration.py script.py

State protocol (our own, not XSOAR's)
-------------------------------------
At import this module reads the JSON file named by ``DEMISTOMOCK_STATE`` (required; the import
fails with a RuntimeError naming the variable when it is missing or unreadable). Keys, all
optional except that the file must hold an object:

``command`` (str, default ``""``), ``args`` (object), ``params`` (object), ``last_run``
(object), ``integration_context`` (``{"context": obj, "version": int}``, default version 0),
``incident`` (object: the incident a script runs in, as ``demisto.incident()`` answers it, e.g.
``{"CustomFields": {...}, "rawJSON": "..."}``; absent for an integration command),
``command_results`` (object: command name -> the entries ``demisto.executeCommand`` answers for
it, a list of entry objects as the server sends them),
``demisto_version`` (str, default ``"6.10.0"``), ``build_number`` (str, default ``"12345"``),
``concurrent_writes`` (list of objects), ``instance`` (str, default ``"test-instance"``: what
``integrationInstance()`` answers, the instance's name as the server gives it).

``concurrent_writes`` simulates another command of the same instance writing the integration
context. Right after a call of ``getIntegrationContextVersioned`` has produced its answer (the
old context and version), the first pending item is consumed: its keys are merged into the
stored context and the stored version goes up by 1. So the script's next
``setIntegrationContextVersioned`` with the version it just read raises ``ValueError``; a
re-read then sees the merged context and the new version (and consumes the next item, if any).

When the process ends, the same file is rewritten with the input keys unchanged plus
``outcome``:

``results``         everything passed to ``demisto.results``, in order; a list argument is
                    flattened into its items (the real wrapper sends one flat list to the
                    server). Items are kept as passed: strings stay strings.
``incidents``       null if ``demisto.incidents`` was never called with a list, else the
                    incidents of all calls, concatenated.
``last_run_set``    null if ``setLastRun`` was never called, else the object of the last call.
``integration_context``  the final ``{"context", "version"}``, concurrent writes included.
``set_context_calls``    attempts to set the context (versioned or not), failed ones included.
``context_conflicts``    ValueErrors raised by ``setIntegrationContextVersioned``.
``debug`` / ``info`` / ``errors``  messages of ``demisto.debug`` / ``info`` / ``error``.
``calls``           names of the demisto functions called, in order.
``executed_commands``  ``{"command", "args"}`` of each ``demisto.executeCommand`` call, in
                    order (calls of a command missing from ``command_results`` included).
``exception``       null, or ``{"type", "message"}`` when the script ended with an uncaught
                    exception (SystemExit is not one: ``sys.exit(0)`` leaves it null).

The outcome is written by an ``atexit`` handler, so ``sys.exit`` and a normal end both write
it; an uncaught exception is noted by a ``sys.excepthook`` wrapper, which then runs the
previous hook (the traceback still goes to stderr and the exit status is still 1). Nothing is
written if the process dies by a signal or ``os._exit``.

Semantics mirrored from the real runtime
----------------------------------------
* ``getIntegrationContextVersioned(refresh=False)``: the parameter is named ``refresh`` in both
  the real demistomock and the server-side wrapper; CommonServerPython passes its ``sync``
  positionally. A call with ``sync=`` fails with TypeError here, as it would in XSOAR.
* ``setIntegrationContextVersioned(context, version=-1, sync=False)``: stores only when
  ``version`` is the current one, else ValueError (the server's error comes back to the script
  as ValueError). ``version=-1`` means "no version check": it always stores, like the real
  ``setIntegrationContext``, which sends version -1. Every store bumps the version by 1.
* ``results``, ``incidents``, ``getLastRun`` and the context getters hand out copies (the
  real ones go through JSON), so the script cannot change stored state by mutating them.
* ``incidents()`` (no argument, the script form) is the list of the current incidents and
  ``incident()`` is its first item, as in the real demistomock: with no ``incident`` in the
  state the list is empty and ``incident()`` raises IndexError. The incident is a copy taken
  at each call (the real one is read once at the start; a script cannot tell the difference).
* ``executeCommand(command, args)`` answers a copy of the entries the state gives for the
  command (what the server answers: a list of entries, one per instance that ran it, an error
  being a ``Type: 4`` entry among them).

Deliberate differences: ``incidents`` are recorded apart from ``results`` (the real wrapper
sends them as a Type 1 result entry with JSON-encoded Contents); ``getLastRun`` always returns
the last run the process started with; results are not converted to entries; only the
functions an integration or a pack script of this project needs exist (others raise
AttributeError). ``executeCommand`` of a command missing from ``command_results`` raises
ValueError naming it (our choice, so that a test that forgot to give a command's answer fails
loudly; CommonServerPython's CommandRunner expects a ValueError for an unsupported command).
"""

import atexit
import copy
import json
import os
import sys

STATE_ENV = 'DEMISTOMOCK_STATE'


def _load_state():
    path = os.environ.get(STATE_ENV)
    if not path:
        raise RuntimeError(
            'demistomock stand-in: the environment variable {} must name a JSON state file '
            '(see the docstring of xsoar/tests/xsoar_runtime/demistomock.py)'.format(STATE_ENV))
    try:
        with open(path) as f:
            state = json.load(f)
    except (OSError, ValueError) as e:
        raise RuntimeError('demistomock stand-in: cannot read {}={}: {}'.format(STATE_ENV, path, e))
    if not isinstance(state, dict):
        raise RuntimeError('demistomock stand-in: {} must hold a JSON object'.format(path))
    return path, state


_STATE_PATH, _STATE = _load_state()
_context = copy.deepcopy(_STATE.get('integration_context') or {})
_stored = {'context': dict(_context.get('context') or {}), 'version': int(_context.get('version', 0))}
_pending_writes = list(_STATE.get('concurrent_writes') or [])

_outcome = {
    'results': [],
    'incidents': None,
    'last_run_set': None,
    'integration_context': None,
    'set_context_calls': 0,
    'context_conflicts': 0,
    'debug': [],
    'info': [],
    'errors': [],
    'calls': [],
    'executed_commands': [],
    'exception': None,
}

is_debug = False
integrationContext = {}  # name kept from the real module; unused here
callingContext = {
    'integration': True,
    'command': _STATE.get('command', ''),
    'args': copy.deepcopy(_STATE.get('args') or {}),
    'params': copy.deepcopy(_STATE.get('params') or {}),
    'context': {},
}


def _copy(value):
    return json.loads(json.dumps(value))


def _called(name):
    _outcome['calls'].append(name)


def _format(msg, args):
    if not args:
        return str(msg)
    try:
        return str(msg) % args
    except (TypeError, ValueError):
        return ' '.join(str(part) for part in (msg,) + tuple(args))


# ---- inputs -----------------------------------------------------------------------------------

def command():
    _called('command')
    return _STATE.get('command', '')


def args():
    _called('args')
    return copy.deepcopy(_STATE.get('args') or {})


def params():
    _called('params')
    return copy.deepcopy(_STATE.get('params') or {})


def getArg(arg):
    return args().get(arg)


def getParam(param):
    return params().get(param)


def demistoVersion():
    _called('demistoVersion')
    return {
        'version': _STATE.get('demisto_version', '6.10.0'),
        'buildNumber': str(_STATE.get('build_number', '12345')),
        'platform': 'xsoar',
    }


def integrationInstance():
    _called('integrationInstance')
    return _STATE.get('instance', 'test-instance')


# ---- last run and incidents -------------------------------------------------------------------

def getLastRun():
    _called('getLastRun')
    return copy.deepcopy(_STATE.get('last_run') or {})


def setLastRun(obj):
    _called('setLastRun')
    _outcome['last_run_set'] = _copy(obj)


def incidents(incidents=None):
    _called('incidents')
    if incidents is None:  # the script form: the current incidents; an integration has none
        return [_copy(_STATE['incident'])] if 'incident' in _STATE else []
    if _outcome['incidents'] is None:
        _outcome['incidents'] = []
    _outcome['incidents'].extend(_copy(list(incidents)))


def incident():
    _called('incident')
    return incidents()[0]


# ---- scripts: running commands ----------------------------------------------------------------

def executeCommand(command, args):
    _called('executeCommand')
    _outcome['executed_commands'].append({'command': command, 'args': _copy(args)})
    answers = _STATE.get('command_results') or {}
    if command not in answers:
        raise ValueError('demistomock stand-in: Unsupported Command : {} (the state file gives no '
                         'command_results for it)'.format(command))
    return _copy(answers[command])


# ---- results and logs -------------------------------------------------------------------------

def results(results):
    _called('results')
    items = results if isinstance(results, list) else [results]
    _outcome['results'].extend(json.loads(json.dumps(items, default=repr)))


def log(msg):
    _called('log')
    _outcome['info'].append(str(msg))


def debug(msg, *args):
    _called('debug')
    _outcome['debug'].append(_format(msg, args))


def info(msg, *args):
    _called('info')
    _outcome['info'].append(_format(msg, args))


def error(msg, *args):
    _called('error')
    _outcome['errors'].append(_format(msg, args))


# ---- integration context ----------------------------------------------------------------------

def _apply_concurrent_write():
    if _pending_writes:
        write = _pending_writes.pop(0)
        _stored['context'].update(_copy(write))
        _stored['version'] += 1


def _store(context):
    _stored['context'] = _copy(context or {})
    _stored['version'] += 1


def getIntegrationContext():
    _called('getIntegrationContext')
    return _copy(_stored['context'])


def setIntegrationContext(context):
    _called('setIntegrationContext')
    _outcome['set_context_calls'] += 1
    _store(context)


def getIntegrationContextVersioned(refresh=False):
    _called('getIntegrationContextVersioned')
    answer = {'context': _copy(_stored['context']), 'version': _stored['version']}
    _apply_concurrent_write()
    return answer


def setIntegrationContextVersioned(context, version=-1, sync=False):
    _called('setIntegrationContextVersioned')
    _outcome['set_context_calls'] += 1
    if isinstance(version, dict):  # the server's own form: {"version": n, ...}
        version = version.get('version', -1)
    if version != -1 and version != _stored['version']:
        _outcome['context_conflicts'] += 1
        raise ValueError('DB Version: integration context version {} is not the current one ({})'
                         .format(version, _stored['version']))
    _store(context)


# ---- odds and ends ----------------------------------------------------------------------------

def uniqueFile():
    import uuid
    return str(uuid.uuid4())


def get(obj, field, defaultParam=None):
    for part in field.split('.'):
        if obj and part in obj:
            obj = obj[part]
        else:
            return defaultParam
    return obj


# ---- outcome ----------------------------------------------------------------------------------

_previous_excepthook = sys.excepthook


def _excepthook(exc_type, exc, tb):
    _outcome['exception'] = {'type': exc_type.__name__, 'message': str(exc)}
    _previous_excepthook(exc_type, exc, tb)


def _write_outcome():
    _outcome['integration_context'] = {'context': _stored['context'], 'version': _stored['version']}
    document = dict(_STATE)
    document['outcome'] = _outcome
    temp = _STATE_PATH + '.tmp'
    with open(temp, 'w') as f:
        json.dump(document, f, indent=2, default=repr)
    os.replace(temp, _STATE_PATH)


sys.excepthook = _excepthook
atexit.register(_write_outcome)

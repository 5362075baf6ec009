"""Cortex XSOAR bridge for the azure-ad-identity-protection binary.

XSOAR runs Python integrations, not binaries. This script is the whole XSOAR side: it turns
the command XSOAR asks for into one JSON envelope, runs the binary (which holds all the logic)
with the envelope on stdin, and hands the binary's JSON result back to XSOAR: war-room entries,
the integration context (stored with XSOAR's versioned compare-and-set), incidents and the
fetch cursor, and polling. Standard library and CommonServerPython only.
"""

import demistomock as demisto  # noqa: F401
from CommonServerPython import *  # noqa: F401

import json
import os
import random
import shutil
import subprocess
import time

BINARY_NAME = 'azure-ad-identity-protection'
BINARY_ENV = 'AZURE_AD_IDENTITY_PROTECTION_BIN'
BINARY_DEFAULT_PATH = '/usr/local/bin/azure-ad-identity-protection'
# The integration's Docker image; build-pack.sh writes the pack's dockerimage here.
DOCKER_IMAGE = 'azure-ad-identity-protection:<version>'
DOCKER_IMAGE_HINT = (
    'Select the Docker image ' + DOCKER_IMAGE + ', built from xsoar/Dockerfile of the '
    'azure-ad-identity-protection project, as this integration\'s Docker image (or set '
    + BINARY_ENV + ' to the binary\'s path).'
)

# Exit statuses of the binary (docs/protocol.md section 1).
EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2

# The binary's per-request budget (instance parameter request_timeout, 1-600 s, default 60).
DEFAULT_REQUEST_TIMEOUT = 60
# The binary's worst case for a command that is not a long listing (docs/protocol.md section 1),
# every retry taken, each attempt a whole request_timeout t: a token (at most 6 t + 70 s: Azure
# Arc's challenge and key requests, 3 attempts and 30 s of backoff each, or IMDS's 5 attempts
# and 70 s; Entra's token endpoint is 3 t + 30 s), a Graph request (6 t + 60 s), and after a
# Graph 401 one more token and Graph request: 2 (6 t + 70) + 2 (6 t + 60) = 24 t + 260 seconds.
# The process timeout sits a little above it; longer listings on a failing Graph are cut there.
ATTEMPTS_PER_COMMAND = 24
BACKOFF_PER_COMMAND = 260
TIMEOUT_MARGIN = 30

# Versioned compare-and-set of the integration context, as set_to_integration_context_with_retries.
CONTEXT_TRIES = 3
STDERR_LINES_FORWARDED = 200


class BridgeError(Exception):
    """A failure of the bridge or the binary, with a message a person can act on."""


def find_binary():
    """The binary: $AZURE_AD_IDENTITY_PROTECTION_BIN, else on PATH, else /usr/local/bin."""
    configured = os.environ.get(BINARY_ENV, '').strip()
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured
        raise BridgeError(
            '{} is set to {}, which is not an executable file. {}'.format(BINARY_ENV, configured, DOCKER_IMAGE_HINT))
    on_path = shutil.which(BINARY_NAME)
    if on_path:
        return on_path
    if os.path.isfile(BINARY_DEFAULT_PATH) and os.access(BINARY_DEFAULT_PATH, os.X_OK):
        return BINARY_DEFAULT_PATH
    raise BridgeError(
        'The {} binary is not in this Docker image (not on PATH, not at {}). {}'.format(
            BINARY_NAME, BINARY_DEFAULT_PATH, DOCKER_IMAGE_HINT))


def process_timeout(params):
    """Seconds to let the binary run: a little above its own worst case for one command."""
    try:
        request_timeout = int(str(params.get('request_timeout') or DEFAULT_REQUEST_TIMEOUT).strip())
    except ValueError:
        request_timeout = DEFAULT_REQUEST_TIMEOUT  # the binary itself reports the bad parameter
    request_timeout = min(max(request_timeout, 1), 600)
    return ATTEMPTS_PER_COMMAND * request_timeout + BACKOFF_PER_COMMAND + TIMEOUT_MARGIN


def read_context():
    """The freshest integration context and its version (opaque: handed back untouched)."""
    versioned = demisto.getIntegrationContextVersioned(True) or {}
    version = versioned.get('version')
    # -1 is XSOAR's "no version check"; used only if a server answers without a version.
    return versioned.get('context') or {}, -1 if version is None else version


def build_envelope(command, context, version):
    """The envelope the binary reads on stdin (docs/protocol.md section 2)."""
    envelope = {
        'command': command,
        'args': demisto.args() or {},
        'params': demisto.params() or {},
        'context': context,
        'context_version': version,
    }
    if command == 'fetch-incidents':
        envelope['last_run'] = demisto.getLastRun() or {}
    return envelope


def run_binary(envelope):
    """Runs the binary once; returns (exit status, result object). Never echoes stdout: it holds tokens."""
    binary = find_binary()
    data = json.dumps(envelope).encode('utf-8')
    timeout = process_timeout(envelope['params'])
    try:
        done = subprocess.run([binary], input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise BridgeError(
            'The {} binary did not finish within {} seconds and was stopped; nothing was stored. '
            'Check that Microsoft Entra ID and Microsoft Graph are reachable from this engine, then '
            'run the command again.'.format(BINARY_NAME, timeout))
    except OSError as e:
        raise BridgeError('The {} binary at {} could not be started ({}). {}'.format(
            BINARY_NAME, binary, e.strerror or e, DOCKER_IMAGE_HINT))
    forward_stderr(done.stderr)
    return done.returncode, parse_result(done.returncode, done.stdout)


def forward_stderr(stderr):
    """The binary's diagnostics (one line per HTTP exchange, never a secret) go to the debug log."""
    lines = stderr.decode('utf-8', 'replace').splitlines()
    for line in lines[-STDERR_LINES_FORWARDED:]:
        demisto.debug('{}: {}'.format(BINARY_NAME, line))


def parse_result(status, stdout):
    """The result object, or a BridgeError when the binary crashed or printed something else."""
    crashed = 'The {} binary ended unexpectedly ({}) '.format(BINARY_NAME, describe_status(status))
    advice = ('Nothing was stored. Run the command again; if it persists, look at the integration\'s '
              'debug log and report it with the binary\'s version.')
    try:
        result = json.loads(stdout.decode('utf-8'))
    except (UnicodeDecodeError, ValueError):
        raise BridgeError(crashed + 'without a JSON result ({} bytes on stdout). '.format(len(stdout)) + advice)
    entries = result.get('entries') if isinstance(result, dict) else None
    if not isinstance(entries, list) or not entries or status not in (EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE):
        raise BridgeError(crashed + 'with a result XSOAR cannot use. ' + advice)
    return result


def describe_status(status):
    if status < 0:
        return 'killed by signal {}'.format(-status)
    return 'exit status {}'.format(status)


def error_message(result):
    """The binary's error text: its error entries' markdown, joined."""
    texts = [entry.get('HumanReadable') or str(entry.get('Contents'))
             for entry in result['entries'] if isinstance(entry, dict) and entry.get('Type') == EntryType.ERROR]
    return '\n\n'.join(texts) or 'The command failed without a message.'


def context_delta(before, after):
    """What this command changed: keys set to a new value, and keys it removed."""
    changed = {key: value for key, value in after.items() if key not in before or before[key] != value}
    removed = [key for key in before if key not in after]
    return changed, removed


def store_context(before, version, after):
    """Compare-and-set: the first try writes the binary's context at the version it read; on a
    conflict the delta is applied to the freshest context, so a concurrent command's keys and a
    token refreshed meanwhile are kept. At most CONTEXT_TRIES tries with a 1-100 ms random pause."""
    changed, removed = context_delta(before, after)
    if not changed and not removed:
        return
    candidate = after
    for attempt in range(1, CONTEXT_TRIES + 1):
        try:
            demisto.setIntegrationContextVersioned(candidate, version, True)
            return
        except ValueError:
            demisto.debug('integration context version moved on (try {} of {})'.format(attempt, CONTEXT_TRIES))
            if attempt == CONTEXT_TRIES:
                break
            time.sleep(random.randint(1, 100) / 1000.0)
            fresh, version = read_context()
            candidate = dict(fresh)
            candidate.update(changed)
            for key in removed:
                candidate.pop(key, None)
    raise BridgeError(
        'The integration context changed under this command {} times in a row, so its update (for '
        'example a refreshed token) was not stored. Run the command again.'.format(CONTEXT_TRIES))


def polling_entry(entry, scheduled):
    """Merges XSOAR's polling keys into the entry, as CommandResults does with a ScheduledCommand."""
    if not ScheduledCommand.supports_polling():
        entry = dict(entry)
        note = ('\n\nThis Cortex XSOAR version cannot schedule commands (polling needs 6.2 or later): '
                'run the command again in {} seconds.').format(scheduled.get('next_run_in_seconds'))
        entry['HumanReadable'] = (entry.get('HumanReadable') or '') + note
        return entry
    command = ScheduledCommand(
        command=scheduled['command'],
        next_run_in_seconds=int(scheduled['next_run_in_seconds']),
        args=scheduled.get('args') or {},
        timeout_in_seconds=int(scheduled['timeout_in_seconds']),
    )
    merged = dict(entry)
    merged.update(command.to_results())
    return merged


def report(command, result):
    """Writes the result's entries (test-module: the plain string 'ok')."""
    if command == 'test-module':
        first = result['entries'][0]
        if first.get('Type') == EntryType.NOTE and first.get('Contents') == 'ok':
            demisto.results('ok')
            return
        raise BridgeError(error_message(result))
    entries = list(result['entries'])
    scheduled = result.get('scheduled_command')
    if isinstance(scheduled, dict):
        entries[-1] = polling_entry(entries[-1], scheduled)
    for entry in entries:
        demisto.results(entry)


def deliver_fetch(result):
    """Incidents and the new cursor, together, only after a successful fetch."""
    for entry in result['entries']:
        if isinstance(entry, dict) and entry.get('Type') == EntryType.WARNING:
            demisto.info('{}: {}'.format(BINARY_NAME, entry.get('HumanReadable')))
    demisto.incidents(result.get('incidents') or [])
    if isinstance(result.get('last_run'), dict):
        demisto.setLastRun(result['last_run'])


def run_command(command):
    context, version = read_context()
    status, result = run_binary(build_envelope(command, context, version))
    if status == EXIT_UNUSABLE:
        raise BridgeError(error_message(result))
    changed = result.get('context_changed') is True and isinstance(result.get('context'), dict)
    if command in ('fetch-incidents', 'test-module'):
        # The context first: a fetch whose refreshed token cannot be stored delivers nothing and
        # leaves the last run as it was, so the next fetch covers the same window.
        if changed:
            store_context(context, version, result['context'])
        if status == EXIT_FAILED:
            raise BridgeError(error_message(result))
        if command == 'fetch-incidents':
            deliver_fetch(result)
        else:
            report(command, result)
        return
    # Entries first: an action already taken in Entra ID is reported even if storing fails.
    report(command, result)
    if changed:
        store_context(context, version, result['context'])


def main():
    command = demisto.command()
    try:
        run_command(command)
    except BridgeError as e:
        # In fetch-incidents return_error raises, so XSOAR keeps the previous last run.
        return_error(str(e))
    except Exception as e:  # a bug in this bridge: a clear entry, never a traceback
        return_error('The azure-ad-identity-protection bridge failed ({}: {}). Nothing was stored; '
                     'run the command again and report this message.'.format(type(e).__name__, e))


if __name__ in ('__main__', '__builtin__', 'builtins'):
    main()

"""Cortex XSOAR bridge for the azure-ad-identity-protection binary.

XSOAR runs Python integrations, not binaries. This script is the whole XSOAR side: it turns
the command XSOAR asks for into one JSON envelope, runs the binary (which holds all the logic)
with the envelope on stdin, and hands the binary's JSON result back to XSOAR: war-room entries,
the integration context (stored with XSOAR's versioned compare-and-set), incidents and the
fetch cursor, polling, and the answers of the four mirroring commands in CommonServerPython's
own types. Standard library and CommonServerPython only.

Mirroring (get-remote-data, get-modified-remote-data, update-remote-system,
get-mapping-fields) runs through the binary like any command; the server reads only the typed
answer built from the result's `mirror` member, so the binary's war-room entry is not shown.
A failure takes the form each command's caller understands: get-remote-data answers the
incident with `in_mirror_error` (one bad incident must not stop the cycle), the others are
return_error. "API rate limit" in the text of the first two makes the server resume there.
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

# The server's mirroring commands. Their answers are CommonServerPython types, not entries.
MIRROR_COMMANDS = ('get-remote-data', 'get-modified-remote-data', 'update-remote-system', 'get-mapping-fields')
# update-remote-system's object and list arguments, sent as JSON text: envelope arguments are
# scalars or arrays of scalars (docs/protocol.md section 2).
JSON_TEXT_ARGS = ('data', 'delta', 'entries')
# The server resumes a mirroring cycle from the failed incident when the error says this.
RATE_LIMIT_TEXT = 'API rate limit'
HTTP_TOO_MANY_REQUESTS = 429

# Versioned compare-and-set of the integration context, as set_to_integration_context_with_retries.
CONTEXT_TRIES = 3
STDERR_LINES_FORWARDED = 200


class BridgeError(Exception):
    """A failure of the bridge or the binary, with a message a person can act on, and Graph's
    HTTP status when the binary's error entry named one."""

    def __init__(self, message, http_status=None):
        super().__init__(message)
        self.http_status = http_status


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
        'args': envelope_args(command, demisto.args() or {}),
        'params': demisto.params() or {},
        'context': context,
        'context_version': version,
        # Fetched incidents carry it as dbotMirrorInstance: the instance that mirrors them.
        'instance_name': demisto.integrationInstance() or None,
    }
    if command == 'fetch-incidents':
        envelope['last_run'] = demisto.getLastRun() or {}
    return envelope


def envelope_args(command, args):
    """The arguments as sent; update-remote-system's objects and lists become their JSON text
    (a string is passed as it is: a manual run types the JSON text itself)."""
    if command != 'update-remote-system':
        return args
    return {name: json.dumps(value) if name in JSON_TEXT_ARGS and isinstance(value, (dict, list)) else value
            for name, value in args.items()}


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


def error_entries(result):
    return [entry for entry in result['entries'] if isinstance(entry, dict) and entry.get('Type') == EntryType.ERROR]


def error_message(result):
    """The binary's error text: its error entries' markdown, joined."""
    texts = [entry.get('HumanReadable') or str(entry.get('Contents')) for entry in error_entries(result)]
    return '\n\n'.join(texts) or 'The command failed without a message.'


def failure(result):
    """The binary's failure as a BridgeError, with the HTTP status its last error entry names."""
    status = None
    for entry in error_entries(result):
        contents = entry.get('Contents')
        if isinstance(contents, dict) and isinstance(contents.get('http_status'), int):
            status = contents['http_status']
    return BridgeError(error_message(result), status)


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


def log_warnings(result):
    """Warnings of a command whose entries the server does not show go to the info log."""
    for entry in result['entries']:
        if isinstance(entry, dict) and entry.get('Type') == EntryType.WARNING:
            demisto.info('{}: {}'.format(BINARY_NAME, entry.get('HumanReadable')))


def deliver_fetch(result):
    """Incidents and the new cursor, together, only after a successful fetch."""
    log_warnings(result)
    demisto.incidents(result.get('incidents') or [])
    if isinstance(result.get('last_run'), dict):
        demisto.setLastRun(result['last_run'])


def mirror_member(result, name, kind):
    """One member of the result's `mirror` object, of the type the contract gives it."""
    mirror = result.get('mirror')
    value = mirror.get(name) if isinstance(mirror, dict) else None
    if not isinstance(value, kind) or (kind is dict and not value):
        raise BridgeError(
            'The {} binary answered without mirror.{}, which this bridge needs: the binary in the Docker '
            'image is older than this integration. {}'.format(BINARY_NAME, name, DOCKER_IMAGE_HINT))
    return value


def answer_mirror(command, result):
    """The server's answer for a mirroring command, in the CommonServerPython type it reads."""
    log_warnings(result)
    if command == 'get-modified-remote-data':
        return_results(GetModifiedRemoteDataResponse(mirror_member(result, 'modified_ids', list)))
    elif command == 'get-remote-data':
        # The object is never empty (mirror_member): extract_for_local would drop the entries too.
        return_results(GetRemoteDataResponse(mirror_member(result, 'object', dict),
                                              mirror_member(result, 'entries', list)))
    elif command == 'update-remote-system':
        return_results(mirror_member(result, 'remote_id', str))
    else:
        schemes = []
        for scheme in mirror_member(result, 'schemes', list):
            mapping = SchemeTypeMapping(type_name=scheme.get('type_name'))
            for name, description in (scheme.get('fields') or {}).items():
                mapping.add_field(name, description)
            schemes.append(mapping)
        return_results(GetMappingFieldsResponse(schemes))


def mirror_failure_text(error):
    """The error's text, naming the rate limit when Graph throttled (429)."""
    text = str(error)
    if error.http_status == HTTP_TOO_MANY_REQUESTS and RATE_LIMIT_TEXT not in text:
        text = 'Microsoft Graph answered 429 ({}): {}'.format(RATE_LIMIT_TEXT, text)
    return text


def answer_mirror_failure(command, error):
    """A failed mirroring command, in the form its caller acts on."""
    if command == 'get-remote-data':
        # What content integrations do: the incident shows the error, the cycle goes on.
        remote_id = (demisto.args() or {}).get('id')
        return_results(GetRemoteDataResponse({'id': remote_id, 'in_mirror_error': mirror_failure_text(error)}, []))
    elif command == 'get-modified-remote-data':
        # CommonServerPython's return_error puts "skip update" before it for this command.
        return_error(mirror_failure_text(error))
    else:
        # update-remote-system: the server shows it and tries again; never a silent drop.
        return_error(str(error))


def run_command(command):
    context, version = read_context()
    status, result = run_binary(build_envelope(command, context, version))
    if status == EXIT_UNUSABLE:
        raise failure(result)
    changed = result.get('context_changed') is True and isinstance(result.get('context'), dict)
    if command in ('fetch-incidents', 'test-module') + MIRROR_COMMANDS:
        # The context first: a fetch whose refreshed token cannot be stored delivers nothing and
        # leaves the last run as it was, so the next fetch covers the same window; a mirroring
        # answer is one object the server reads, which a later error entry would spoil.
        if changed:
            store_context(context, version, result['context'])
        if status == EXIT_FAILED:
            raise failure(result)
        if command == 'fetch-incidents':
            deliver_fetch(result)
        elif command == 'test-module':
            report(command, result)
        else:
            answer_mirror(command, result)
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
        if command in MIRROR_COMMANDS:
            answer_mirror_failure(command, e)
            return
        # In fetch-incidents return_error raises, so XSOAR keeps the previous last run.
        return_error(str(e))
    except Exception as e:  # a bug in this bridge: a clear entry, never a traceback
        return_error('The azure-ad-identity-protection bridge failed ({}: {}). Nothing was stored; '
                     'run the command again and report this message.'.format(type(e).__name__, e))


if __name__ in ('__main__', '__builtin__', 'builtins'):
    main()

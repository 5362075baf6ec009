import json

import demistomock as demisto  # noqa: F401
from CommonServerPython import *  # noqa: F401


def raw_markdown(raw_json):
    """The Graph object the incident was made from, indented, as a Markdown code block."""
    if not raw_json:
        return 'The incident has no raw object.'
    try:
        # ensure_ascii=False: names and cities outside ASCII shown as themselves, not as \u escapes.
        text = json.dumps(json.loads(raw_json), indent=2, sort_keys=True, ensure_ascii=False)
    except ValueError:
        text = str(raw_json)
    return '```json\n' + text + '\n```'


def main():
    try:
        return_results({
            'Type': EntryType.NOTE,
            'ContentsFormat': EntryFormat.MARKDOWN,
            'Contents': raw_markdown(demisto.incident().get('rawJSON')),
        })
    except Exception as e:
        return_error(f'Failed to show the raw object: {e}')


if __name__ in ('__main__', '__builtin__', 'builtins'):
    main()

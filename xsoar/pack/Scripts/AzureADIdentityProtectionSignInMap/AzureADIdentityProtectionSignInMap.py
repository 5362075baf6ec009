import demistomock as demisto  # noqa: F401
from CommonServerPython import *  # noqa: F401

LATITUDE = 'azureadidentityprotectionlatitude'
LONGITUDE = 'azureadidentityprotectionlongitude'


def map_entry(fields):
    """A map entry at the sign-in's coordinates, or a note when the detection has none."""
    latitude, longitude = fields.get(LATITUDE), fields.get(LONGITUDE)
    if latitude in (None, '') or longitude in (None, ''):
        return 'Graph reported no coordinates for this sign-in.'
    return {
        'Type': EntryType.MAP_ENTRY_TYPE,
        'ContentsFormat': EntryFormat.JSON,
        'Contents': {'lat': float(latitude), 'lng': float(longitude)},
    }


def main():
    try:
        return_results(map_entry(demisto.incident().get('CustomFields') or {}))
    except Exception as e:
        return_error(f'Failed to draw the sign-in location: {e}')


if __name__ in ('__main__', '__builtin__', 'builtins'):
    main()

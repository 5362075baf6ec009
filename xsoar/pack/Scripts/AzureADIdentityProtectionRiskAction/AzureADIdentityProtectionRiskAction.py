import demistomock as demisto  # noqa: F401
from CommonServerPython import *  # noqa: F401

# Layout buttons run scripts, not integration commands: this one runs one of the integration's
# commands on the subject of the incident it is clicked in (its user, sign-in or service principal).
USER_FIELD = 'azureadidentityprotectionuserid'
PRINCIPAL_FIELD = 'azureadidentityprotectionserviceprincipalid'
DETECTION_FIELD = 'eventid'
IP_FIELD = 'sourceip'
FIELD_NAMES = {USER_FIELD: 'User ID', PRINCIPAL_FIELD: 'Service Principal ID',
               DETECTION_FIELD: 'Event ID', IP_FIELD: 'Source IP'}
RISKY_USER_TYPE = 'Azure AD Identity Protection Risky User'
COMMAND = 'azure-ad-identity-protection-'

# action -> (command, its argument, the incident field that gives the argument, fixed arguments)
USER_ACTIONS = {
    'dismiss': (COMMAND + 'risky-user-dismiss', 'user_ids', USER_FIELD, {}),
    'confirm-compromised': (COMMAND + 'risky-user-confirm-compromised', 'user_ids', USER_FIELD, {}),
    'confirm-safe': (COMMAND + 'risky-user-confirm-safe', 'user_ids', USER_FIELD, {}),
    'revoke-sessions': (COMMAND + 'user-sessions-revoke', 'user_id', USER_FIELD, {}),
}
DETECTION_ACTIONS = {
    **USER_ACTIONS,
    'sign-in': (COMMAND + 'sign-in-get', 'detection_id', DETECTION_FIELD, {}),
    'sign-ins-around': (COMMAND + 'sign-ins-list', 'around_detection_id', DETECTION_FIELD, {}),
    'block-ip': (COMMAND + 'ip-block', 'ip', IP_FIELD, {}),
}
RISKY_USER_ACTIONS = {
    **USER_ACTIONS,
    'recent-sign-ins': (COMMAND + 'sign-ins-list', 'user_id', USER_FIELD, {'start_time': '7 days'}),
}
PRINCIPAL_ACTIONS = {
    'dismiss': (COMMAND + 'risky-service-principal-dismiss', 'service_principal_ids', PRINCIPAL_FIELD, {}),
    'confirm-compromised': (COMMAND + 'risky-service-principal-confirm-compromised', 'service_principal_ids',
                            PRINCIPAL_FIELD, {}),
}


def actions_on(incident, fields):
    """(the incident's kind in words, the actions on it)."""
    if fields.get(PRINCIPAL_FIELD):
        return 'a service principal', PRINCIPAL_ACTIONS
    if not fields.get(USER_FIELD):
        raise DemistoException('The incident has neither a user id nor a service principal id.')
    # Any other type is a user's risk detection, as the pack's classifier defaults to.
    if incident.get('type') == RISKY_USER_TYPE:
        return 'a risky user', RISKY_USER_ACTIONS
    return "a user's risk detection", DETECTION_ACTIONS


def command_for(action, incident, fields):
    """(command, arguments) for the action on the incident's fields."""
    kind, actions = actions_on(incident, fields)
    if action not in actions:
        raise DemistoException(f'"{action}" is not an action on {kind}; the actions are: {", ".join(actions)}.')
    command, argument, field, fixed = actions[action]
    value = fields.get(field)
    if not value:
        raise DemistoException(f'The incident\'s {FIELD_NAMES[field]} field ({field}) is empty: '
                               f'"{action}" has nothing to act on.')
    return command, {argument: value, **fixed}


def main():
    try:
        incident = demisto.incident()
        fields = incident.get('CustomFields') or {}
        command, args = command_for(demisto.args().get('action', ''), incident, fields)
        # The instance that fetched the incident acts on it, not every instance of the integration.
        if incident.get('sourceInstance'):
            args['using'] = incident['sourceInstance']
        # The command's own entries (its readable message), not only their raw contents.
        return_results(execute_command(command, args, extract_contents=False))
    except Exception as e:
        return_error(f'Failed to run the action: {e}')


if __name__ in ('__main__', '__builtin__', 'builtins'):
    main()

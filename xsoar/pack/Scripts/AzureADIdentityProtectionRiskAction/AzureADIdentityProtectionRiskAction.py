import demistomock as demisto  # noqa: F401
from CommonServerPython import *  # noqa: F401

# Layout buttons run scripts, not integration commands: this one runs the integration's action
# command on the user or service principal of the incident it is clicked in.
USER_FIELD = 'azureadidentityprotectionuserid'
PRINCIPAL_FIELD = 'azureadidentityprotectionserviceprincipalid'
USER_ACTIONS = ('dismiss', 'confirm-compromised', 'confirm-safe')
PRINCIPAL_ACTIONS = ('dismiss', 'confirm-compromised')


def command_for(action, fields):
    """(command, arguments) for the action on the incident's fields."""
    principal = fields.get(PRINCIPAL_FIELD)
    if principal:
        if action not in PRINCIPAL_ACTIONS:
            raise DemistoException(f'"{action}" is not an action on a service principal')
        return ('azure-ad-identity-protection-risky-service-principal-' + action,
                {'service_principal_ids': principal})
    user = fields.get(USER_FIELD)
    if not user:
        raise DemistoException('The incident has neither a user id nor a service principal id.')
    if action not in USER_ACTIONS:
        raise DemistoException(f'"{action}" is not an action on a user')
    return 'azure-ad-identity-protection-risky-user-' + action, {'user_ids': user}


def main():
    try:
        incident = demisto.incident()
        fields = incident.get('CustomFields') or {}
        command, args = command_for(demisto.args().get('action', ''), fields)
        # The instance that fetched the incident acts on it, not every instance of the integration.
        if incident.get('sourceInstance'):
            args['using'] = incident['sourceInstance']
        # The command's own entries (its readable message), not only their raw contents.
        return_results(execute_command(command, args, extract_contents=False))
    except Exception as e:
        return_error(f'Failed to run the action: {e}')


if __name__ in ('__main__', '__builtin__', 'builtins'):
    main()

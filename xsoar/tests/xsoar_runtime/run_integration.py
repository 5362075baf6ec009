"""Runs a unified integration script the way the XSOAR server does, for the bridge tests.

    python3 run_integration.py SCRIPT      (PYTHONPATH=this folder, DEMISTOMOCK_STATE=state file)

`demisto-sdk unify` strips the script's own `import demistomock` / `from CommonServerPython
import *` lines and wraps it in `register_module_line(...)` calls: the server runs it with
CommonServerPython's code placed before it, in one namespace whose `demisto` is the server's
object, under a `__name__` of 'builtins' (hence the integrations' guard
`if __name__ in ('__main__', '__builtin__', 'builtins')`). This runner does the same with the
stand-in CommonServerPython and demistomock of this folder.
"""

import os
import sys


def main():
    if len(sys.argv) != 2:
        raise SystemExit('usage: run_integration.py SCRIPT')
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, 'CommonServerPython.py')) as f:
        common = f.read()
    with open(sys.argv[1]) as f:
        script = f.read()
    code = compile(common + '\n' + script, sys.argv[1], 'exec')
    exec(code, {'__name__': 'builtins', '__file__': sys.argv[1]})


if __name__ == '__main__':
    main()

"""The marker plugins use: ``@ezigen.hookimpl`` (re-exported as ``ezigen.hookimpl``)."""

import pluggy

hookimpl = pluggy.HookimplMarker("ezigen")

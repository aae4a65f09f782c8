"""docs/plugins.md is what a plugin author follows: its tables are interfaces.py's, and every
example in it registers and passes the conformance check of its kind."""

from __future__ import annotations

import os
import re
import types

import pytest

from tests.conftest import REPO

DOC = open(os.path.join(REPO, "docs", "plugins.md"), encoding="utf-8").read()
EXAMPLES = re.findall(r"<!-- example: (\w+) ([\w-]+) -->\n```python\n(.*?)```", DOC, re.S)


def test_the_contract_tables_are_generated_from_interfaces():
    from ezigen.docgen import CONTRACTS_BEGIN, CONTRACTS_END, contract_tables

    block = DOC[DOC.index(CONTRACTS_BEGIN):DOC.index(CONTRACTS_END) + len(CONTRACTS_END)]
    assert block == contract_tables(), "regenerate with `python -m ezigen.docgen --contracts`"


def test_there_is_an_example_per_kind():
    from ezigen.interfaces import CONTRACTS

    assert sorted(kind for kind, _, _ in EXAMPLES) == sorted(CONTRACTS)


@pytest.mark.parametrize("kind, name, code", EXAMPLES, ids=[f"{k}-{n}" for k, n, _ in EXAMPLES])
def test_each_example_registers_and_conforms(kind, name, code):
    from ezigen.plugins import build_plugin_manager, collect
    from ezigen.testing import check_component, conformance_cases

    module = types.ModuleType(f"docs_example_{name.replace('-', '_')}")
    exec(compile(code, f"docs/plugins.md:{name}", "exec"), module.__dict__)
    comps = collect(build_plugin_manager(entry_points=False, extra=[module]))
    assert not comps.broken and not comps.failed
    assert (kind, name) in conformance_cases(comps)
    check_component(kind, name, comps)

"""Runs `async def` tests on a fresh event loop each, without a pytest plugin; `fmt` runs a test
once per client format (JSON, Protobuf)."""

import asyncio
import inspect

import pytest


def pytest_pyfunc_call(pyfuncitem):
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(asyncio.wait_for(pyfuncitem.obj(**arguments), timeout=60))
        return True
    return None


@pytest.fixture(params=["json", "protobuf"])
def fmt(request):
    """The client format a test runs in (helpers.Format): its Client, its payloads."""
    from helpers import Format

    return Format(request.param)

"""Runs `async def` tests on a fresh event loop each, without a pytest plugin; and the fixtures:
`backing`, the service the nodes share, once per engine (postgres, redis, redis-2-shards), and
`nodes`, three nodes on it. Both are per module: the tests of a module run on one engine, then on
the next, in the order written (the last test of a module may stop the nodes)."""

import asyncio
import inspect

import pytest

from backing import ENGINES, start_backing
from cluster import Node


def pytest_pyfunc_call(pyfuncitem):
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(asyncio.wait_for(pyfuncitem.obj(**arguments), timeout=120))
        return True
    return None


def pytest_configure(config):
    config.addinivalue_line("markers", "engines(*names, why): runs only on these engines; skipped on the others, saying why")


def pytest_collection_modifyitems(items):
    # Skipped at collection, so no nodes start for a test that cannot apply.
    for item in items:
        marker = item.get_closest_marker("engines")
        if marker and getattr(item, "callspec", None) and item.callspec.params.get("backing") not in marker.args:
            item.add_marker(pytest.mark.skip(reason=marker.kwargs["why"]))


@pytest.fixture(scope="module", params=ENGINES)
def backing(request):
    service = start_backing(request.param, f"{request.module.__name__}-{request.param}")
    try:
        yield service
    finally:
        service.close()


@pytest.fixture(scope="module")
def nodes(backing):
    started = []
    try:
        for name in "abc":
            started.append(Node(name, backing))
        yield started
    finally:
        for node in started:
            node.stop()


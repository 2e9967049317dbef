"""refgraph's pytest plugin on the guide's web shop (samples/webshop.py),
whose requests leave their sessions behind:

    pytest --refgraph-leaks samples/test_webshop_leaks.py

with refgraph installed by pip, which loads the plugin; from a build
directory: PYTHONPATH=. python3 -m pytest -p refgraph.pytest_plugin ...
test_a_request_leaves_nothing_behind fails, as it should:
the report names webshop.app.sessions[*] and the shutdown signal's
receivers.  The other tests pass; under --refgraph-leaks they are checked
too.  Add --refgraph-dir leak-reports to keep the report and its pictures.

The project's suite runs this file only by name, in tests/test_pytest_plugin.py
(samples/conftest.py keeps a pytest run over samples/ from collecting it).
"""
import pytest

import webshop


@pytest.fixture(scope="module")
def catalogue():
    """Objects a fixture makes are there before the calls: not leaks."""
    return {"book": 12.50, "pen": 1.50, "lamp": 30.00}


def test_a_cart_adds_up(catalogue):
    cart = webshop.Cart()
    for product, price in catalogue.items():
        cart.add(product, price)
    assert cart.total() == 44.0


def test_a_receiver_that_disconnects_is_gone():
    signal = webshop.app.on_shutdown
    session = webshop.Session(1, "tok-test")
    signal.connect(session.flush)
    signal.disconnect(session.flush)
    assert session.flush not in signal.receivers


@pytest.mark.no_leaks(rounds=3)
def test_a_request_leaves_nothing_behind():
    page = webshop.app.handle(7)
    assert page == "<p>user 7: 12.50</p>"

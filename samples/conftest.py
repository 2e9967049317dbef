"""pytest in samples/: test_webshop_leaks.py fails on purpose (the guide's
example of a leak that refgraph's pytest plugin finds).  It runs when named
(pytest --refgraph-leaks samples/test_webshop_leaks.py; and in
tests/test_pytest_plugin.py); a pytest run that collects samples/, or the
whole source tree, leaves it out."""
collect_ignore = ["test_webshop_leaks.py"]

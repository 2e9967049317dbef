"""The sessions module of the sample services (service_prod.py,
service_plain.py): each request opens a Session and files it in a
module-level registry that nothing ever empties.  install() runs this code
as a module named "sessions" registered in sys.modules, as an imported
module would be, so that a chain starts from sessions.registry, as it would
in a real code base."""
import sys
import types

SOURCE = '''
import time

registry = {}            # token -> Session: "for the admin page", never pruned


class Session:
    def __init__(self, user, token):
        self.user = user
        self.token = token
        self.started = time.time()
        self.buffer = bytearray(4096)    # response buffer

    def close(self):
        self.buffer = None


def open_session(user, token):
    session = Session(user, token)
    registry[token] = session            # the leak: close() never removes it
    return session


def handle(user, token):
    """One fake request: open a session, render a page, close the session."""
    session = open_session(user, token)
    page = "<p>hello user %d</p>" % user
    session.close()
    return page
'''


def install():
    """The module "sessions", registered in sys.modules."""
    module = types.ModuleType("sessions")
    sys.modules["sessions"] = module
    exec(SOURCE, module.__dict__)
    return module

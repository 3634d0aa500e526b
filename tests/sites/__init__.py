"""Real-shaped fake stores the agents are tested against (aiohttp.web, loopback only).

Each site reproduces the pages, ids, redirects, sessions, CSRF tokens and one-time
reveals of the real flow described in ``notes/store-flows.md``, remembers every
credential it issued (and which are revoked), and can be switched into failure modes
(``FailureModes``) per instance.
"""

"""The sandbox servers: name -> (module, one-line description).

A module is imported only when its server starts, so ``--list`` stays fast and
a stdlib server never pays for importing Flask.
"""

SERVERS = {
    "echo": ("sandbox.echo", "TCP echo: sends back every byte it receives"),
    "contacts": ("sandbox.contacts", "address book over TCP, newline-delimited JSON"),
    "random": ("sandbox.random_api", "HTTP JSON API of random numbers (http.server)"),
    "httpbin": ("sandbox.httpbin", "local stand-in for httpbin.org (Flask)"),
    "app": ("sandbox.app", "your own Flask/WSGI application, from a Python file"),
    "messaging": ("sandbox.messaging", "the capstone's messaging REST API and web client (Flask)"),
    "chat": ("sandbox.chat", "WebSocket echo and chat room with broadcast (Flask + flask-sock)"),
    "postgres": ("sandbox.postgres", "a throwaway PostgreSQL server in a temporary folder (needs PostgreSQL)"),
    "contacts3": ("sandbox.contacts3", "the same contacts as REST and GraphQL (Flask) and gRPC"),
    "echo-async": ("sandbox.echo_async", "TCP echo on one asyncio event loop, instead of a thread per client"),
    "random-async": ("sandbox.random_async", "the random API in FastAPI on uvicorn (ASGI), or your own ASGI app"),
    "tap": ("sandbox.tap", "TCP proxy in front of another server: records every chunk, FIN and reset"),
    "udp-echo": ("sandbox.udp_echo", "UDP echo that drops (--loss) and delays (--delay) datagrams, seeded"),
}

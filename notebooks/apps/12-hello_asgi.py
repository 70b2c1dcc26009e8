import asyncio
from urllib.parse import parse_qs


async def app(scope, receive, send):                 # a coroutine, awaited once per request
    if scope["type"] != "http":                      # "lifespan": the server starting, stopping
        return
    query = parse_qs(scope["query_string"].decode())  # ?wait=0.05: answer after 50 ms
    try:
        wait = float(query.get("wait", ["0"])[0])
    except ValueError:
        wait = 0.0
    if not 0 <= wait <= 1:                           # at most a second (nan: no wait)
        wait = 0.0
    await asyncio.sleep(wait)                        # waits without holding a thread
    body = f"Hello from {scope['path']}\n".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": body})

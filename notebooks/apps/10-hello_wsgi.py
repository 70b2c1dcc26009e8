def application(environ, start_response):      # called once per request
    path = environ["PATH_INFO"]                 # the request: a dict of CGI-style variables
    body = f"Hello from {path}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [body]                               # the body: an iterable of bytes

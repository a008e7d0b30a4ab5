#!/usr/bin/env python3
"""A stand-in for ``monostack up`` used to test conformance/run.sh.

``fake_monostack.py up --data-dir DIR --bind HOST:PORT`` serves just enough
of Keystone for make_tempest_conf.py (versions, POST /v3/auth/tokens with a
catalog) and writes DIR/clouds.yaml once listening.  Everything else answers
501, so Tempest's test classes fail in setUpClass -- which is what the
orchestration test wants to see summarised.
"""
import argparse
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def make_handler(base):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):  # quiet
            sys.stderr.write("fake: " + fmt % args + "\n")

        def _send(self, code, body, headers=None):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.rstrip("/") == "/identity":
                return self._send(300, {"versions": {"values": [{
                    "id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                    "links": [{"rel": "self", "href": base + "/identity/v3/"}],
                    "media-types": [{"base": "application/json",
                                     "type": "application/vnd.openstack.identity-v3+json"}]}]}})
            return self._send(501, {"error": {"code": 501, "message": "fake", "title": "Not Implemented"}})

        do_PATCH = do_DELETE = do_PUT = do_HEAD = do_GET

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path.rstrip("/") != "/identity/v3/auth/tokens":
                return self._send(501, {"error": {"code": 501, "message": "fake"}})
            user = body["auth"]["identity"]["password"]["user"]
            if user.get("password") != "secret":
                return self._send(401, {"error": {"code": 401, "message": "bad password"}})
            dom = {"id": "default", "name": "Default"}
            token = {
                "methods": ["password"],
                "user": {"id": "u-admin", "name": user.get("name", "admin"), "domain": dom},
                "project": {"id": "p-admin", "name": "admin", "domain": dom},
                "roles": [{"id": "r-admin", "name": "admin"}],
                "expires_at": "2099-01-01T00:00:00.000000Z",
                "issued_at": "2020-01-01T00:00:00.000000Z",
                "catalog": [{"type": "identity", "name": "keystone", "id": "s1", "endpoints": [
                    {"id": "e1", "interface": "public", "region": "RegionOne",
                     "region_id": "RegionOne", "url": base + "/identity"}]}],
            }
            return self._send(201, {"token": token}, {"X-Subject-Token": "fake-token"})

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["up"])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--bind", required=True)
    args = ap.parse_args()
    host, port = args.bind.rsplit(":", 1)
    base = f"http://{host}:{port}"
    server = ThreadingHTTPServer((host, int(port)), make_handler(base))
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=server.shutdown).start())
    os.makedirs(args.data_dir, exist_ok=True)
    auth = {"auth_url": base + "/identity", "username": "admin", "password": "secret",
            "project_name": "admin", "user_domain_id": "default", "project_domain_id": "default"}
    clouds = {"clouds": {"monostack-admin": {"auth": auth, "region_name": "RegionOne",
                                             "identity_api_version": 3, "interface": "public"}}}
    with open(os.path.join(args.data_dir, "clouds.yaml"), "w") as fh:
        json.dump(clouds, fh)  # JSON is YAML
    server.serve_forever()
    print("fake monostack stopped", file=sys.stderr)


if __name__ == "__main__":
    main()

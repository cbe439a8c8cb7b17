"""A small fault-injecting HTTP proxy between s3ferry and the moto server (tests only).

Forwards every request to --upstream unchanged (Host header included, so SigV4 signatures
still verify) and injects, for S3 requests only (the service in the signature's scope):

  --expire-after N   each session key (a request with X-Amz-Security-Token) is answered
                     400 ExpiredToken from its (N+1)th S3 request on, for good: as if that
                     credential had expired at that point;
  --expire-key K:N   the same for access key K whether or not it has a session token;
  --expire-listing-after N
                     a session key expires for good at its (N+1)th ListObjectsV2 (every
                     request with it is answered ExpiredToken from then on): a listing
                     long enough meets an expiry whatever else the run does;
  --slowdown-every M --slowdown-burst B
                     every Mth S3 request starts a burst: it and the next B-1 S3 requests are
                     answered 503 SlowDown;
  --bucket-region B:R
                     bucket B lives in Region R: an S3 request for it signed for another
                     Region is answered 301 PermanentRedirect with x-amz-bucket-region: R,
                     as S3 answers on the wrong regional endpoint;
  --hold-identity S  every STS GetCallerIdentity waits S seconds before it is forwarded; the
                     stats list the other requests whose access key had no answer to its
                     GetCallerIdentity yet when they arrived ("before_identity_answer": key,
                     request): what a client sends without waiting to learn who it is;
  --delay S          every S3 request waits S seconds before it is forwarded, all at once
                     (one thread each): a bucket in a far Region.

Whatever the flags, it counts the writes the server took: "writes" maps each object path to the
number of 2xx PutObject/CopyObject/CompleteMultipartUpload answers (a count above 1 is an object
written twice), and "open_uploads" lists the multipart uploads created and neither completed nor
aborted (an upload left open is billed).

Prints {"port": N} once listening on 127.0.0.1; GET /__fault/stats returns the counters as
JSON. Stops when stdin closes (the test process ended) or after --lifetime seconds.
"""
import argparse
import http.client
import json
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EXPIRED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ExpiredToken</Code>'
    b"<Message>The provided token has expired.</Message><RequestId>fault-proxy</RequestId></Error>"
)
REDIRECT = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PermanentRedirect</Code>'
    b"<Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message>"
    b"<RequestId>fault-proxy</RequestId></Error>"
)
SLOWDOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message><RequestId>fault-proxy</RequestId></Error>"
)
CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.per_key = {}
        self.listings_per_key = {}
        self.expired_keys = set()
        self.expire_keys = {}
        for spec in args.expire_key or []:
            key, _, n = spec.partition(":")
            self.expire_keys[key] = int(n or 0)
        self.s3_requests = 0
        self.burst_left = 0
        self.answered = set()
        self.bucket_regions = dict(spec.split(":", 1) for spec in args.bucket_region or [])
        self.stats = {
            "requests": 0,
            "s3_requests": 0,
            "expired_responses": 0,
            "slowdowns": 0,
            "session_keys_seen": [],
            "keys_expired": [],
            "before_identity_answer": [],
            "listings": 0,
            "redirects": 0,
            "expired_listings": 0,
            "writes": {},
            "open_uploads": [],
        }

    def wrote(self, method, path, status, data):
        """Counts a write the server took, and tracks multipart uploads opened and closed."""
        parts = urllib.parse.urlsplit(path)
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        if status // 100 != 2:
            return
        with self.lock:
            if method == "POST" and "uploads" in query:
                m = re.search(rb"<UploadId>([^<]+)</UploadId>", data)
                if m:
                    self.stats["open_uploads"].append(m.group(1).decode())
            elif "uploadId" in query and method in ("POST", "DELETE"):
                upload = query["uploadId"][0]
                if upload in self.stats["open_uploads"]:
                    self.stats["open_uploads"].remove(upload)
            if (method == "PUT" and "partNumber" not in query and "tagging" not in query) or (
                method == "POST" and "uploadId" in query
            ):
                self.stats["writes"][parts.path] = self.stats["writes"].get(parts.path, 0) + 1

    def arrived(self, key, request):
        with self.lock:
            if key not in self.answered:
                self.stats["before_identity_answer"].append({"key": key, "request": request})

    def hold(self, key):
        time.sleep(self.args.hold_identity)
        with self.lock:
            self.answered.add(key)

    def decide(self, key, service, session, listing=False):
        """Returns the fault to inject for this request, or None."""
        with self.lock:
            self.stats["requests"] += 1
            if service != "s3" or key is None:
                return None
            self.stats["s3_requests"] += 1
            self.s3_requests += 1
            if session and key not in self.stats["session_keys_seen"]:
                self.stats["session_keys_seen"].append(key)
            n = self.per_key.get(key, 0) + 1
            self.per_key[key] = n
            limit = self.expire_keys.get(key)
            if limit is None and session and self.args.expire_after:
                limit = self.args.expire_after
            if listing:
                self.stats["listings"] += 1
            if session and listing and self.args.expire_listing_after:
                m = self.listings_per_key.get(key, 0) + 1
                self.listings_per_key[key] = m
                if m > self.args.expire_listing_after:
                    self.expired_keys.add(key)
            if (limit is not None and n > limit) or key in self.expired_keys:
                if listing:
                    self.stats["expired_listings"] += 1
                if key not in self.stats["keys_expired"]:
                    self.stats["keys_expired"].append(key)
                self.stats["expired_responses"] += 1
                return "expired"
            every = self.args.slowdown_every
            if every and self.s3_requests % every == 0:
                self.burst_left = self.args.slowdown_burst
            if self.burst_left > 0:
                self.burst_left -= 1
                self.stats["slowdowns"] += 1
                return "slowdown"
            return None


def make_handler(state, upstream):
    target = urllib.parse.urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def body(self):
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                out = b""
                for _ in range(1_000_000):
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    out += self.rfile.read(size)
                    self.rfile.readline()
                return out
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def reply(self, status, headers, payload):
            self.send_response(status)
            length = str(len(payload))
            for k, v in headers:
                if k.lower() == "content-length" and self.command == "HEAD":
                    length = v  # a HEAD answer has no body but says the object's length
                elif k.lower() not in HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", length)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def handle_any(self):
            payload = self.body()
            if self.path == "/__fault/stats":
                with state.lock:
                    data = json.dumps(state.stats).encode()
                self.reply(200, [("Content-Type", "application/json")], data)
                return
            auth = self.headers.get("Authorization", "")
            m = CREDENTIAL.search(auth)
            key, region, service = (m.group(1), m.group(2), m.group(3)) if m else (None, None, None)
            bucket = urllib.parse.urlsplit(self.path).path.lstrip("/").split("/")[0]
            home = state.bucket_regions.get(bucket)
            if service == "s3" and home and region != home:
                with state.lock:
                    state.stats["redirects"] += 1
                self.reply(301, [("Content-Type", "application/xml"), ("x-amz-bucket-region", home)], REDIRECT)
                return
            session = "X-Amz-Security-Token" in self.headers
            if state.args.hold_identity:
                if b"Action=GetCallerIdentity" in payload:
                    state.hold(key)
                else:
                    state.arrived(key, f"{self.command} {self.path}")
            if service == "s3" and state.args.delay:
                # A bucket far away: every S3 request waits, concurrently, as on a long link.
                time.sleep(state.args.delay)
            fault = state.decide(key, service, session, self.command == "GET" and "list-type=2" in self.path)
            if fault == "expired":
                self.reply(400, [("Content-Type", "application/xml")], EXPIRED)
                return
            if fault == "slowdown":
                self.reply(503, [("Content-Type", "application/xml")], SLOWDOWN)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            if payload or self.command in ("PUT", "POST"):
                headers["Content-Length"] = str(len(payload))
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for k, v in headers.items():
                    conn.putheader(k, v)
                conn.endheaders(payload if payload else None)
                resp = conn.getresponse()
                data = resp.read()
                if service == "s3":
                    state.wrote(self.command, self.path, resp.status, data)
                self.reply(resp.status, resp.getheaders(), data)
            finally:
                conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True)
    p.add_argument("--expire-after", type=int, default=0)
    p.add_argument("--expire-key", action="append")
    p.add_argument("--slowdown-every", type=int, default=0)
    p.add_argument("--slowdown-burst", type=int, default=0)
    p.add_argument("--hold-identity", type=float, default=0)
    p.add_argument("--bucket-region", action="append")
    p.add_argument("--expire-listing-after", type=int, default=0)
    p.add_argument("--lifetime", type=float, default=600)
    p.add_argument("--delay", type=float, default=0, help="seconds each S3 request waits before it is forwarded")
    args = p.parse_args()
    state = State(args)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state, args.upstream))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait(args.lifetime)
    server.shutdown()


if __name__ == "__main__":
    main()

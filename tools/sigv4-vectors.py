#!/usr/bin/env python3
"""Writes Tests/StrataBlobTests/Fixtures/sigv4-vectors.json: S3 requests signed by botocore.

Strata signs S3 requests itself (SigV4.swift); SigV4Tests compares its Authorization headers
byte for byte with the ones botocore's S3SigV4Auth computes here for the same requests, with
fixed credentials and a frozen clock. Paths and queries are encoded the way botocore's
serializer does (percent_encode, safe '/~' for paths), so the URLs are checked too.

Usage: tools/sigv4-vectors.py [output.json]
"""
import datetime
import hashlib
import json
import os
import sys

import botocore
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode

ACCESS_KEY = "AKIDEXAMPLESTRATA01"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+token/with=chars"
FROZEN = datetime.datetime(2024, 5, 15, 9, 30, 12)
EMPTY = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"
UPLOAD_ID = "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA--+/="
DELETE_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>true</Quiet>'
    b"<Object><Key>cold/a</Key></Object><Object><Key>cold/b &amp; c</Key></Object></Delete>"
)
COMPLETE_BODY = (
    b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"abc\"</ETag></Part>"
    b"</CompleteMultipartUpload>"
)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def md5_b64(data):
    import base64

    return base64.b64encode(hashlib.md5(data).digest()).decode()


def case(name, method, endpoint, path, query=(), headers=(), payload=EMPTY, region="us-east-1", token=None):
    return dict(
        name=name,
        method=method,
        endpoint=endpoint,
        path=path,
        query=[list(q) for q in query],
        headers=[list(h) for h in headers],
        payloadHash=payload,
        region=region,
        sessionToken=token,
    )


def cases():
    aws = "https://s3.us-west-2.amazonaws.com"
    vhost = "https://strata-test.s3.us-west-2.amazonaws.com"
    local = "http://127.0.0.1:8333"
    body = b"hello strata\n"
    list_q = [("list-type", "2"), ("max-keys", "1000"), ("prefix", "cold/my stream/seg 1/")]
    token = "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=+ x"
    return [
        case("put-object", "PUT", local, "/strata-test/cold/topic/0/00000000000000000000.seg.zst",
             payload=sha(body)),
        case("put-if-absent", "PUT", local, "/strata-test/cold/manifest/00000007.json",
             headers=[("If-None-Match", "*")], payload=sha(body)),
        case("get-range", "GET", vhost, "/cold/topic/0/seg.zst", headers=[("Range", "bytes=100-199")],
             region="us-west-2"),
        case("get-suffix", "GET", aws, "/strata-test/cold/seg.zst", headers=[("Range", "bytes=-4096")],
             region="us-west-2"),
        case("head-object", "HEAD", local, "/strata-test/cold/x"),
        case("list-v2-prefix-slash-space", "GET", local, "/strata-test", query=list_q),
        case("list-v2-continuation", "GET", local, "/strata-test",
             query=list_q + [("continuation-token", token)]),
        case("list-v2-start-after", "GET", local, "/strata-test",
             query=list_q + [("start-after", "cold/my stream/seg 1/00000000000000001000.seg.zst")]),
        case("list-v2-vhost-empty-path", "GET", vhost, "/", query=[("list-type", "2"), ("prefix", "a/b")],
             region="us-west-2"),
        case("create-multipart", "POST", local, "/strata-test/cold/big.bin", query=[("uploads", "")]),
        case("upload-part", "PUT", local, "/strata-test/cold/big.bin",
             query=[("partNumber", "3"), ("uploadId", UPLOAD_ID)], payload=sha(b"part-three")),
        case("upload-part-unsigned", "PUT", aws, "/strata-test/cold/big.bin",
             query=[("partNumber", "10"), ("uploadId", UPLOAD_ID)], payload=UNSIGNED, region="us-west-2"),
        case("complete-multipart", "POST", local, "/strata-test/cold/big.bin",
             query=[("uploadId", UPLOAD_ID)], headers=[("If-None-Match", "*")], payload=sha(COMPLETE_BODY)),
        case("abort-multipart", "DELETE", local, "/strata-test/cold/big.bin", query=[("uploadId", UPLOAD_ID)]),
        case("delete-objects", "POST", local, "/strata-test", query=[("delete", "")],
             headers=[("Content-MD5", md5_b64(DELETE_BODY))], payload=sha(DELETE_BODY)),
        case("session-token", "GET", aws, "/strata-test/cold/a", region="us-west-2", token=SESSION_TOKEN),
        case("unicode-special-key", "PUT", local,
             "/strata-test/cold/ünï cödé/日本語/a+b=c&d;e,f@g$h!i'j(k)l*m~n_o-p.q%r#s?t:u\\v",
             payload=sha(body)),
        case("double-slash-dot-key", "GET", local, "/strata-test/cold//./../x"),
        case("header-whitespace", "GET", local, "/strata-test/k", headers=[("Range", "  bytes=0-0  ")]),
    ]


def url_of(vector):
    path = percent_encode(vector["path"], safe="/~")
    pairs = sorted((percent_encode(k), percent_encode(v)) for k, v in vector["query"])
    query = "&".join(f"{k}={v}" for k, v in pairs)
    return vector["endpoint"] + path + ("?" + query if query else "")


class FixedPayloadAuth(botocore.auth.S3SigV4Auth):
    """S3SigV4Auth whose payload hash is the vector's (signed hash or UNSIGNED-PAYLOAD)."""

    def __init__(self, credentials, region, payload_hash):
        super().__init__(credentials, "s3", region)
        self._payload_hash = payload_hash

    def payload(self, request):
        return self._payload_hash

    def canonical_request(self, request):
        self.last_canonical_request = super().canonical_request(request)
        return self.last_canonical_request


def sign(vector):
    creds = Credentials(ACCESS_KEY, SECRET_KEY, vector["sessionToken"])
    url = url_of(vector)
    request = AWSRequest(method=vector["method"], url=url, headers=dict(vector["headers"]))
    auth = FixedPayloadAuth(creds, vector["region"], vector["payloadHash"])
    auth.add_auth(request)
    vector["expected"] = dict(
        url=url,
        authorization=request.headers["Authorization"],
        canonicalRequest=auth.last_canonical_request,
    )
    return vector


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "Tests", "StrataBlobTests", "Fixtures", "sigv4-vectors.json")
    botocore.auth.get_current_datetime = lambda *args, **kwargs: FROZEN
    vectors = [sign(v) for v in cases()]
    doc = dict(
        generator="tools/sigv4-vectors.py",
        botocore=botocore.__version__,
        accessKeyId=ACCESS_KEY,
        secretAccessKey=SECRET_KEY,
        amzDate=FROZEN.strftime("%Y%m%dT%H%M%SZ"),
        unixSeconds=int(FROZEN.replace(tzinfo=datetime.timezone.utc).timestamp()),
        vectors=vectors,
    )
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(vectors)} vectors to {out}")


if __name__ == "__main__":
    main()

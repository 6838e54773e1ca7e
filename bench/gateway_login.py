#!/usr/bin/env python3
"""Logs in through the gateway the way a SOAP client does (application second
factor enrolled with EnableTwoFactorAuthRequest) and prints the gateway token.
Usage: gateway_login.py http://127.0.0.1:PORT ACCOUNT PASSWORD"""
import base64, hashlib, hmac, json, struct, sys, time, urllib.request

def soap(url, body):
    req = urllib.request.Request(url + "/service/soap", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return json.load(r)["Body"]
    except urllib.error.HTTPError as e:
        sys.exit(f"gateway refused the login: {e.read().decode()}")

def text(v):
    if isinstance(v, list):
        v = v[0]
    return v["_content"] if isinstance(v, dict) else v

def totp(secret_b32, t):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(t) // 30), hashlib.sha1).digest()
    o = mac[-1] & 15
    return "%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 1000000)

url, account, password = sys.argv[1:4]
ns = "urn:zimbraAccount"
r = soap(url, {"Body": {"EnableTwoFactorAuthRequest": {"_jsns": ns, "name": {"_content": account},
        "password": {"_content": password}, "method": {"_content": "app"}}}})["EnableTwoFactorAuthResponse"]
secret, stage = text(r["secret"]), text(r["authToken"])
r = soap(url, {"Body": {"EnableTwoFactorAuthRequest": {"_jsns": ns, "name": {"_content": account},
        "authToken": {"_content": stage}, "twoFactorCode": {"_content": totp(secret, time.time())}}}})
print(text(r["EnableTwoFactorAuthResponse"]["authToken"]))

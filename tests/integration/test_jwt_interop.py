"""Interop: our HS256 tokens (service/src/jwt.c, via jwtcli) and PyJWT's.

Tokens we mint must verify with PyJWT and carry docs/contract.md section 5's
claims; tokens PyJWT mints must verify with ours, and tampered, wrongly
keyed, expired or not-yet-valid ones must be rejected by both.
"""
import base64
import json
import time
import uuid

import jwt
import pytest

# Non-ASCII: the key is the raw UTF-8 bytes; 64+ bytes keep PyJWT quiet.
SECRET = "interop-secret-\u00e9-" + "k" * 64
WRONG = "wrong-key-" * 8


@pytest.fixture
def jwtcli(run_bin):
    def run(*args, stdin=None, secret=SECRET):
        return run_bin("jwtcli", *args, stdin=stdin,
                       env_extra={"HMS_APP_SECRET": secret})
    return run


def decode(token, secret=SECRET, **kw):
    return jwt.decode(token, secret.encode(), algorithms=["HS256"],
                      options={"require": ["exp", "iat", "nbf"]}, **kw)


def test_our_app_token_verifies_with_pyjwt(jwtcli):
    exp = int(time.time()) + 7200
    r = jwtcli("app", "ak-1", "room-42", "alice", "host", str(exp))
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert "=" not in token
    claims = decode(token)
    now = int(time.time())
    assert claims["access_key"] == "ak-1"
    assert claims["room_id"] == "room-42"
    assert claims["user_id"] == "alice"
    assert claims["role"] == "host"
    assert claims["type"] == "app"
    assert claims["version"] == 2
    assert claims["exp"] == exp
    assert abs(claims["iat"] - (now - 60)) <= 5 and claims["nbf"] == claims["iat"]
    assert uuid.UUID(claims["jti"]).version == 4
    assert set(claims) == {"access_key", "room_id", "user_id", "role", "type",
                           "version", "iat", "nbf", "exp", "jti"}


def test_our_management_token_verifies_with_pyjwt(jwtcli):
    r = jwtcli("mgmt", "ak-1", "3600")
    assert r.returncode == 0, r.stderr
    claims = decode(r.stdout.strip())
    assert claims["type"] == "management" and claims["version"] == 2
    assert claims["exp"] - claims["nbf"] == 3660
    assert "room_id" not in claims


def test_our_token_with_wrong_key_fails_pyjwt(jwtcli):
    token = jwtcli("mgmt", "ak", "3600").stdout.strip()
    with pytest.raises(jwt.InvalidSignatureError):
        decode(token, secret=WRONG)


def pyjwt_token(**over):
    now = int(time.time())
    claims = {"access_key": "ak", "type": "management", "version": 2,
              "iat": now - 60, "nbf": now - 60, "exp": now + 600,
              "jti": str(uuid.uuid4())}
    claims.update(over)
    return jwt.encode(claims, SECRET.encode(), algorithm="HS256")


def test_pyjwt_token_verifies_with_ours(jwtcli):
    token = pyjwt_token(room_id="r1")
    r = jwtcli("verify", stdin=token)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == decode(token)


def tamper_signature(token):
    head, body, sig = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
    raw[0] ^= 1
    return ".".join([head, body,
                     base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")])


def tamper_payload(token):
    head, _, sig = token.split(".")
    body = base64.urlsafe_b64encode(json.dumps(
        {"exp": int(time.time()) + 9999, "type": "management"}).encode())
    return ".".join([head, body.decode().rstrip("="), sig])


@pytest.mark.parametrize("make,why", [
    (lambda: tamper_signature(pyjwt_token()), "signature mismatch"),
    (lambda: tamper_payload(pyjwt_token()), "signature mismatch"),
    (lambda: jwt.encode({"exp": int(time.time()) + 60}, WRONG,
                        algorithm="HS256"), "signature mismatch"),
    (lambda: pyjwt_token(exp=int(time.time()) - 1), "token expired"),
    (lambda: pyjwt_token(nbf=int(time.time()) + 120), "not yet valid (nbf)"),
    (lambda: pyjwt_token(iat=int(time.time()) + 120), "not yet valid (iat)"),
    (lambda: jwt.encode({"exp": int(time.time()) + 60}, None,
                        algorithm="none"), "HS256"),
    (lambda: jwt.encode({"exp": int(time.time()) + 60}, SECRET.encode(),
                        algorithm="HS512"), "HS256"),
])
def test_bad_tokens_rejected_by_ours_and_pyjwt(jwtcli, make, why):
    token = make()
    r = jwtcli("verify", stdin=token)
    assert r.returncode == 1
    assert why in r.stderr
    with pytest.raises(jwt.PyJWTError):
        decode(token)


def test_leeway_accepts_small_skew(jwtcli):
    token = pyjwt_token(nbf=int(time.time()) + 30)
    assert jwtcli("verify", stdin=token).returncode == 1
    assert jwtcli("verify", "60", stdin=token).returncode == 0

"""An independent client against the emulator: MSAL for Python (msal on PyPI).

If Microsoft's own library signs in against the emulator unchanged, the emulator answers like
Entra ID. Run by .ci/run after `pip install -r tests/msal/requirements.txt`:

    python3 tests/msal/check_msal.py target/debug/azure-ad-identity-protection

It starts `azure-ad-identity-protection emulator --port 0 --tls --auto-approve`, trusts the CA the
emulator prints (MSAL only accepts https:// authorities) through REQUESTS_CA_BUNDLE, and checks
client credentials (with the secret, and with the emulator's public test certificate: RS256 with
a SHA-1 thumbprint, PS256 with the certificate, and a federated token of the emulator's test
issuer), device-code sign-in, a silent refresh, managed identity, and a Graph call with each
token. PyJWT (MSAL's own dependency) then validates the ID token and the access tokens with the
keys the discovery document's jwks_uri publishes, as a relying party would.
"""

import base64
import json
import os
import subprocess
import sys

import jwt
import msal
import requests


class CheckFailed(Exception):
    """A check that did not hold (raised by `check`, which, unlike `assert`, python -O keeps)."""


def check(condition, what, seen=None):
    """Fails with `what` (the expectation, in words) and what was seen instead, if any."""
    if not condition:
        raise CheckFailed(what if seen is None else "%s; got %r" % (what, seen))


def token_of(result, what):
    """The access token of an MSAL result, or a failure naming `what` and MSAL's error."""
    check(isinstance(result, dict) and "access_token" in result, "MSAL got no access token for " + what,
          {k: result.get(k) for k in ("error", "error_description")} if isinstance(result, dict) else result)
    return result["access_token"]


def start_emulator(binary):
    args = [binary, "emulator", "--port", "0", "--tls", "--auto-approve", "--device-code-interval", "1"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    first_line = process.stdout.readline()
    if not first_line:
        process.kill()
        raise SystemExit("the emulator printed nothing; is the binary built?")
    return process, json.loads(first_line)


def graph_answers(graph, token):
    url = graph + "/v1.0/identityProtection/riskyUsers?$top=1"
    response = requests.get(url, headers={"Authorization": "Bearer " + token}, timeout=10)
    return response.status_code == 200 and "value" in response.json()


def check_client_credentials(info):
    params = info["params"]
    app = msal.ConfidentialClientApplication(
        params["app_id"],
        client_credential=params["credentials"]["password"],
        authority=params["azure_ad_endpoint"] + "/" + params["tenant_id"],
        instance_discovery=False,
    )
    result = app.acquire_token_for_client(scopes=[params["graph_endpoint"] + "/.default"])
    token = token_of(result, "the app with its secret")
    check(graph_answers(params["graph_endpoint"], token), "Graph accepts the app token")
    authority = params["azure_ad_endpoint"] + "/" + params["tenant_id"]
    appid = verified_claims(authority, token, audience_of(token)).get("appid")
    check(appid == params["app_id"], "the app token's appid is the app id " + params["app_id"], appid)


def certificate_sign_in(info, credential):
    params = info["certificate_params"]
    app = msal.ConfidentialClientApplication(
        params["app_id"],
        client_credential=credential,
        authority=params["azure_ad_endpoint"] + "/" + params["tenant_id"],
        instance_discovery=False,
    )
    result = app.acquire_token_for_client(scopes=[params["graph_endpoint"] + "/.default"])
    token = token_of(result, "the certificate app with " + ", ".join(sorted(credential)))
    check(graph_answers(params["graph_endpoint"], token), "Graph accepts the certificate app's token")


def verified_claims(authority, token, audience, check_issuer=False):
    """The claims of `token` once its RS256 signature verifies with the key its `kid` names in
    the authority's published key set (and `aud`, `exp` and, for an ID token, `iss` check out)."""
    discovery = requests.get(authority + "/v2.0/.well-known/openid-configuration", timeout=10).json()
    keys = jwt.PyJWKSet.from_dict(requests.get(discovery["jwks_uri"], timeout=10).json())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in keys.keys if k.key_id == kid)
    issuer = discovery["issuer"] if check_issuer else None
    return jwt.decode(token, key.key, algorithms=["RS256"], audience=audience, issuer=issuer)


def audience_of(token):
    return jwt.decode(token, options={"verify_signature": False})["aud"]


def check_federated_token(info):
    """Workload identity federation: a token of the emulator's test issuer, from its admin
    endpoint, as MSAL's client assertion."""
    token = requests.post(info["admin"] + "/federated-token", json={}, timeout=10).json()["token"]
    # A callable, as MSAL asks: a workload re-reads its token file, which the issuer rotates.
    certificate_sign_in(info, {"client_assertion": lambda: token})


def split_bundle(bundle):
    """The certificate and the key of the emulator's PEM bundle."""
    at = bundle.index("-----BEGIN PRIVATE KEY-----")
    return bundle[:at], bundle[at:]


def check_certificate_with_thumbprint(info):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    certificate, key = split_bundle(info["certificate_params"]["certificate"])
    sha1 = x509.load_pem_x509_certificate(certificate.encode()).fingerprint(hashes.SHA1()).hex()
    certificate_sign_in(info, {"private_key": key, "thumbprint": sha1})


def check_certificate_with_public_certificate(info):
    certificate, key = split_bundle(info["certificate_params"]["certificate"])
    certificate_sign_in(info, {"private_key": key, "public_certificate": certificate})


def check_device_code_and_refresh(info):
    params = info["device_code_params"]
    graph = params["graph_endpoint"]
    app = msal.PublicClientApplication(
        params["app_id"],
        authority=params["azure_ad_endpoint"] + "/" + params["tenant_id"],
        instance_discovery=False,
    )
    scopes = [graph + "/IdentityRiskyUser.Read.All", graph + "/IdentityRiskEvent.Read.All"]
    flow = app.initiate_device_flow(scopes=scopes)
    check("user_code" in flow and "/devicelogin" in flow.get("message", ""),
          "the device flow has a user code and a message naming /devicelogin", flow)
    result = app.acquire_token_by_device_flow(flow)
    token_of(result, "the device-code sign-in")
    check(result.get("id_token_claims", {}).get("preferred_username"),
          "the ID token names the signed-in user (preferred_username)", result.get("id_token_claims"))
    authority = params["azure_ad_endpoint"] + "/" + params["tenant_id"]
    claims = verified_claims(authority, result["id_token"], params["app_id"], check_issuer=True)
    check(claims.get("preferred_username") == result["id_token_claims"]["preferred_username"],
          "the verified ID token names the same user as MSAL's claims", claims)
    verified_claims(authority, result["access_token"], audience_of(result["access_token"]))
    # The same header and signature over other claims (valid JSON): only the signature check
    # can refuse it.
    head, _, signature = result["id_token"].split(".")
    other = dict(claims, preferred_username="someone-else@example.com")
    payload = base64.urlsafe_b64encode(json.dumps(other).encode()).rstrip(b"=").decode()
    try:
        verified_claims(authority, ".".join([head, payload, signature]), params["app_id"])
        raise CheckFailed("a forged ID token (other claims, the genuine signature) verified")
    except jwt.InvalidSignatureError:
        pass
    check(graph_answers(graph, result["access_token"]), "Graph accepts the delegated token")
    accounts = app.get_accounts()
    check(accounts, "MSAL builds an account from the device-code answer", accounts)
    refreshed = app.acquire_token_silent(scopes, account=accounts[0], force_refresh=True)
    refreshed_token = token_of(refreshed, "the silent refresh")
    check(refreshed_token != result["access_token"], "the refresh returns a new access token")


def check_managed_identity(info):
    """MSAL's managed-identity client, system-assigned, against the emulator's IMDS: MSAL reads
    AZURE_POD_IDENTITY_AUTHORITY_HOST for the IMDS address, as the integration does."""
    imds = info["managed_identity_environment"]["AZURE_POD_IDENTITY_AUTHORITY_HOST"]
    graph = info["managed_identity_params"]["graph_endpoint"]
    before = os.environ.get("AZURE_POD_IDENTITY_AUTHORITY_HOST")
    os.environ["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = imds
    try:
        client = msal.ManagedIdentityClient(msal.SystemAssignedManagedIdentity(), http_client=requests.Session())
        source = msal.managed_identity.get_managed_identity_source()
        check(source is msal.managed_identity.DEFAULT_TO_VM,
              "MSAL asks IMDS here (no App Service, Arc or Cloud Shell variable is set)", source)
        result = client.acquire_token_for_client(resource=graph)
    finally:
        if before is None:
            del os.environ["AZURE_POD_IDENTITY_AUTHORITY_HOST"]
        else:
            os.environ["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = before
    token = token_of(result, "the managed identity")
    check(graph_answers(graph, token), "Graph accepts the managed identity's token")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/debug/azure-ad-identity-protection"
    process, info = start_emulator(binary)
    os.environ["REQUESTS_CA_BUNDLE"] = info["ca_file"]
    checks = [
        check_client_credentials,
        check_certificate_with_thumbprint,
        check_certificate_with_public_certificate,
        check_federated_token,
        check_device_code_and_refresh,
        check_managed_identity,
    ]
    failed = 0
    try:
        for one in checks:
            try:
                one(info)
                print("ok     " + one.__name__)
            except Exception as error:  # report every check, then fail
                failed += 1
                print("FAILED %s: %s: %s" % (one.__name__, type(error).__name__, error))
    finally:
        process.terminate()
        process.wait(timeout=10)
    print("msal: %d passed, %d failed" % (len(checks) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

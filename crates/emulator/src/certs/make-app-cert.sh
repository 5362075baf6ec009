#!/bin/sh
# Regenerates the emulator's test app certificate (RSA 2048, self-signed, valid ~100 years) and
# its key, plus a second, unrelated key for "wrong key" tests. Every key here is committed and
# public: the emulator's default certificate app trusts app-cert.pem and nothing real does.
# Run from this directory: sh make-app-cert.sh
set -eu
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out app-key.pem
openssl req -x509 -new -key app-key.pem -sha256 -days 36500 -out app-cert.pem \
    -subj "/O=azure-ad-identity-protection emulator/CN=Emulator test app certificate (public key, do not trust)"
# The same key as PKCS#1 (BEGIN RSA PRIVATE KEY), the other form the integration accepts.
openssl pkey -in app-key.pem -traditional -out app-key-pkcs1.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other-key.pem

#!/bin/sh
# Regenerates the emulator's test keys: the app certificate (RSA 2048, self-signed, valid ~100
# years) and its key, a second, unrelated key for "wrong key" tests, the key (and certificate)
# the emulator signs its tokens with, and the key of its test federation issuer. Every key here
# is committed and public: the emulator trusts them and nothing real does.
# Run from this directory: sh make-app-cert.sh
set -eu
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out app-key.pem
openssl req -x509 -new -key app-key.pem -sha256 -days 36500 -out app-cert.pem \
    -subj "/O=azure-ad-identity-protection emulator/CN=Emulator test app certificate (public key, do not trust)"
# The same key as PKCS#1 (BEGIN RSA PRIVATE KEY), the other form the integration accepts.
openssl pkey -in app-key.pem -traditional -out app-key-pkcs1.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other-key.pem
# The emulator's token-signing key; its JWKS publishes the public half and this certificate.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out token-signing-key.pem
openssl req -x509 -new -key token-signing-key.pem -sha256 -days 36500 -out token-signing-cert.pem \
    -subj "/CN=Emulator token signing key (public key, do not trust)"
# The test federation issuer's key (POST /_emulator/federated-token signs with it).
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out issuer-key.pem

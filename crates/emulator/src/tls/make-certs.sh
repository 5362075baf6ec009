#!/bin/sh
# Regenerates the emulator's throwaway loopback CA and server certificate (valid ~100 years).
# The server key is committed and public: it protects nothing and serves loopback tests only.
# The CA key is deleted at the end, and the CA is name-constrained to loopback names, so a
# client told to trust ca.pem trusts nothing but this emulator's loopback certificate.
# Run from this directory: sh make-certs.sh
set -eu
days=36500
ext=$(mktemp)
trap 'rm -f "$ext" server.csr ca.srl ca-key.pem' EXIT

openssl ecparam -name prime256v1 -genkey -noout -out ca.key.tmp
openssl pkcs8 -topk8 -nocrypt -in ca.key.tmp -out ca-key.pem && rm ca.key.tmp
openssl req -x509 -new -key ca-key.pem -sha256 -days "$days" -out ca.pem \
    -subj "/O=azure-ad-identity-protection emulator/CN=Emulator loopback test CA (public key, do not trust)" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "nameConstraints=critical,permitted;DNS:localhost,permitted;IP:127.0.0.0/255.0.0.0,permitted;IP:::1/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"

openssl ecparam -name prime256v1 -genkey -noout -out server.key.tmp
openssl pkcs8 -topk8 -nocrypt -in server.key.tmp -out server-key.pem && rm server.key.tmp
openssl req -new -key server-key.pem -out server.csr -subj "/CN=localhost"
cat > "$ext" <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EXT
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -sha256 \
    -days "$days" -extfile "$ext" -out server.pem

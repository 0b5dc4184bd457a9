#!/usr/bin/env bash
# make-test-certs.sh - writes throwaway TLS material for the TLS tests into DIR (RSA 2048,
# SHA-256, valid 10 days):
#   ca.pem ca-key.pem                   the test CA
#   server.pem server-key.pem           CN=localhost, subjectAltName IP:127.0.0.1, DNS:localhost
#   server2.pem server2-key.pem         same names, same CA, another key (certificate reload)
#   wrongname.pem wrongname-key.pem     same CA, names wrong.example only (identity failures)
#   client.pem client-key.pem           CN=slowtap-test-client, clientAuth (client certificates)
#   other-ca.pem other-ca-key.pem       an unrelated CA
#   other-server.pem other-server-key.pem  server names, signed by the other CA (verify failures)
# Usage: make-test-certs.sh DIR     (DIR is created; existing files are overwritten)
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
DIR=$1
OPENSSL=${OPENSSL:-/usr/bin/openssl}
[ -x "$OPENSSL" ] || OPENSSL=openssl
mkdir -p "$DIR"
cd "$DIR"
umask 077
SERIAL=$((RANDOM * 32768 + RANDOM + 1000))

# key NAME: an RSA 2048 key in NAME-key.pem
key() {
    "$OPENSSL" genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1-key.pem" 2>/dev/null
}

# ca NAME CN: a self-signed CA certificate NAME.pem
ca() {
    key "$1"
    "$OPENSSL" req -new -x509 -sha256 -days 10 -key "$1-key.pem" -out "$1.pem" -subj "/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

# leaf NAME CN CA EXTENSIONS: NAME.pem signed by CA.pem, with the extension lines given
leaf() {
    key "$1"
    "$OPENSSL" req -new -sha256 -key "$1-key.pem" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
    printf '%b' "$4" >"$1.ext"
    SERIAL=$((SERIAL + 1))
    "$OPENSSL" x509 -req -sha256 -days 10 -in "$1.csr" -CA "$3.pem" -CAkey "$3-key.pem" \
        -set_serial "$SERIAL" -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}

LEAF='basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n'
SERVER_EXT="${LEAF}extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
WRONG_EXT="${LEAF}extendedKeyUsage=serverAuth\nsubjectAltName=DNS:wrong.example\n"
CLIENT_EXT="${LEAF}extendedKeyUsage=clientAuth\n"

ca ca "slowtap test CA"
ca other-ca "slowtap other CA"
leaf server localhost ca "$SERVER_EXT"
leaf server2 localhost ca "$SERVER_EXT"
leaf wrongname wrong.example ca "$WRONG_EXT"
leaf client slowtap-test-client ca "$CLIENT_EXT"
leaf other-server localhost other-ca "$SERVER_EXT"
# mariadbd may run as another user than the one running the tests: keep the files readable.
chmod 644 ./*.pem

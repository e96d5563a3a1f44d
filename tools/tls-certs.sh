#!/usr/bin/env bash
# Makes a cluster CA and node certificates with the openssl command, for
# security.tls (docs/OPERATIONS.md, Security). ECDSA P-256 keys.
#
#   tools/tls-certs.sh DIR ca
#       DIR/ca.crt and DIR/ca.key: the cluster CA (10 years). Keep ca.key
#       off the nodes; every node and client gets ca.crt.
#   tools/tls-certs.sh DIR node NAME [ADDRESS...]
#       DIR/NAME.crt and DIR/NAME.key, signed by DIR/ca.*, naming NAME and
#       each ADDRESS (an IP address or a DNS name) as a subjectAltName: list
#       every address other nodes and clients connect to (listen.peer,
#       listen.client, advertise.*). Valid for 825 days. Usable both to serve
#       and to connect (extendedKeyUsage serverAuth and clientAuth), as a
#       node does both on the peer port.
set -euo pipefail

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[ $# -ge 2 ] || usage
dir=$1
what=$2
mkdir -p "$dir"
command -v openssl >/dev/null || { echo "tls-certs.sh: the openssl command is missing (apt-get install openssl)" >&2; exit 1; }

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }

case $what in
  ca)
    [ $# -eq 2 ] || usage
    key "$dir/ca.key"
    openssl req -x509 -new -key "$dir/ca.key" -out "$dir/ca.crt" -days 3650 -subj "/CN=dynkv cluster CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    echo "$dir/ca.crt"
    ;;
  node)
    [ $# -ge 3 ] || usage
    name=$3
    shift 3
    [ -f "$dir/ca.crt" ] && [ -f "$dir/ca.key" ] || { echo "tls-certs.sh: make the CA first: $0 $dir ca" >&2; exit 1; }
    sans="DNS:$name"
    for address in "$@"; do
      if [[ $address =~ ^[0-9.]+$ || $address == *:* ]]; then sans+=",IP:$address"; else sans+=",DNS:$address"; fi
    done
    key "$dir/$name.key"
    extensions=$(mktemp)
    trap 'rm -f "$extensions" "$dir/$name.csr"' EXIT
    printf '%s\n' "subjectAltName=$sans" "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth,clientAuth" > "$extensions"
    openssl req -new -key "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=$name" 2>/dev/null
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
      -out "$dir/$name.crt" -days 825 -extfile "$extensions" 2>/dev/null
    echo "$dir/$name.crt"
    ;;
  *) usage ;;
esac

package buildcache

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Entries may be signed with an ed25519 key that only the writers (CI)
// hold; helpers given the public keys accept only entries signed by one of
// them. The server stores and serves signatures without checking them: it
// needs no key, and a writer without the key can map an action no one has
// built yet, but verifying helpers treat what it mapped as corrupt and
// build it themselves.
//
// The signed message binds the action to its output and size:
//
//	pitstop-cache-entry-v1 <action hex> <output hex> <size>

// hdrSig carries an entry's signature (standard base64) on PUT and GET.
const hdrSig = "X-Pitstop-Signature"

// ErrBadSignature is an entry that is unsigned, or not signed by any of
// the keys a helper trusts. It wraps ErrCorrupt: the helper builds the
// action itself.
var ErrBadSignature = fmt.Errorf("%w: entry not signed by a trusted key", ErrCorrupt)

func entryMessage(a ID, e Entry) []byte {
	return fmt.Appendf(nil, "pitstop-cache-entry-v1 %s %s %d", a, e.OutputID, e.Size)
}

// SignEntry signs that action a maps to e.
func SignEntry(key ed25519.PrivateKey, a ID, e Entry) []byte {
	return ed25519.Sign(key, entryMessage(a, e))
}

// VerifyEntry reports whether sig is a signature by one of keys of a
// mapping to e.
func VerifyEntry(keys []ed25519.PublicKey, a ID, e Entry, sig []byte) bool {
	if len(sig) != ed25519.SignatureSize {
		return false
	}
	msg := entryMessage(a, e)
	for _, k := range keys {
		if ed25519.Verify(k, msg, sig) {
			return true
		}
	}
	return false
}

// parseSig decodes a signature header or entry field; "" is no signature.
func parseSig(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	sig, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("signature %.20q: want %d bytes in standard base64", s, ed25519.SignatureSize)
	}
	return sig, nil
}

// ParseSigningKey reads an ed25519 private key: a PEM "PRIVATE KEY"
// (PKCS #8, as `openssl genpkey -algorithm ed25519` writes).
func ParseSigningKey(data []byte) (ed25519.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, errors.New("want a PEM \"PRIVATE KEY\" block (openssl genpkey -algorithm ed25519)")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T, not an ed25519 key", k)
	}
	return priv, nil
}

// ParseVerifyKey reads an ed25519 public key: a PEM "PUBLIC KEY" (as
// `openssl pkey -pubout` writes) or the 32-byte key in standard base64.
func ParseVerifyKey(data []byte) (ed25519.PublicKey, error) {
	if b, _ := pem.Decode(data); b != nil {
		if b.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("a PEM %q block, want \"PUBLIC KEY\"", b.Type)
		}
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, err
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("a %T, not an ed25519 key", k)
		}
		return pub, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("want a PEM public key or %d bytes in standard base64", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

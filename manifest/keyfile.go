package manifest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// ErrBadKeyFile means a file that is not an Ed25519 signing key as
// MarshalSigningKey writes it.
var ErrBadKeyFile = errors.New("manifest: not a signing key file")

// maxKeyFile bounds a signing key file.
const maxKeyFile = 16 << 10

// MarshalSigningKey encodes key, a network or node signing key, as a PEM
// "PRIVATE KEY" block (PKCS #8) after comment, a note for humans.
func MarshalSigningKey(key ed25519.PrivateKey, comment string) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: private key of %d bytes", ErrBadKey, len(key))
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("manifest: encode key: %w", err)
	}
	var b bytes.Buffer
	b.WriteString(comment)
	if err := pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		return nil, fmt.Errorf("manifest: encode key: %w", err)
	}
	return b.Bytes(), nil
}

// ParseSigningKey reads an Ed25519 private key from text written by
// MarshalSigningKey (text before the block is ignored).
func ParseSigningKey(text []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(text)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: no PRIVATE KEY block", ErrBadKeyFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: not a PKCS #8 private key", ErrBadKeyFile)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: not an Ed25519 key", ErrBadKeyFile)
	}
	return priv, nil
}

// ReadSigningKey reads the signing key file at path.
func ReadSigningKey(path string) (ed25519.PrivateKey, error) {
	text, err := readLimited(path, maxKeyFile)
	if err != nil {
		return nil, fmt.Errorf("manifest: reading the key: %w", err)
	}
	k, err := ParseSigningKey(text)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return k, nil
}

// WriteSigningKey creates path (mode 0600) holding key after comment. It
// never overwrites a file: if path exists it fails with an error wrapping
// fs.ErrExist.
func WriteSigningKey(path string, key ed25519.PrivateKey, comment string) error {
	text, err := MarshalSigningKey(key, comment)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("manifest: writing the key: %w", err)
	}
	_, err = f.Write(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("manifest: writing the key: %w", err)
	}
	return nil
}

package plugins

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
)

// parseChecksum reads auth.sha256: 64 hex digits, or a line of sha256sum's
// output ("<hex>  <file>"), so that an operator can paste either.
func parseChecksum(s string) ([]byte, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return nil, nil
	}
	sum, err := hex.DecodeString(strings.TrimPrefix(strings.ToLower(fields[0]), "sha256:"))
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("%w: got %q", errBadChecksum, s)
	}
	return sum, nil
}

// fileSHA256 is the checksum of the file at path.
func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth plugin %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("auth plugin %s: reading it for its checksum: %w", path, err)
	}
	return h.Sum(nil), nil
}

// verifyChecksum refuses a binary whose SHA-256 is not want, naming the file
// and both sums, so the operator sees at once whether the file or the pin is
// wrong. go-plugin checks again just before exec.
func verifyChecksum(path string, want []byte) error {
	got, err := fileSHA256(path)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%w: %s has sha256 %x, auth.sha256 is %x (run sha256sum on the binary you trust and update auth.sha256)",
			ErrChecksumMismatch, path, got, want)
	}
	return nil
}
